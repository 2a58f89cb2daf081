"""Configuration from the environment (CONTRACT.md, Configuration)."""
from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from events.database import normalise_database_url

INSTANCE_DIR = Path(os.environ.get("MARKETPLACE_INSTANCE", Path.cwd() / "instance"))
#: Where ``npm ci`` (run by ``make``) puts the pinned front-end packages of package.json.
DEFAULT_FRONTEND_DIR = Path(__file__).resolve().parents[2] / "node_modules"


def _default_database_url() -> str:
    return f"sqlite:///{INSTANCE_DIR / 'marketplace.db'}"


def _dev_secret_key() -> str:
    """A per-instance key kept on disk so sessions survive restarts of `marketplace dev`."""
    path = INSTANCE_DIR / "secret_key"
    if path.exists():
        return path.read_text().strip()
    INSTANCE_DIR.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    path.write_text(key)
    path.chmod(0o600)
    return key


def _true(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes", "on")


@dataclass(frozen=True)
class Settings:
    database_url: str
    secret_key: str
    kafka_bootstrap_servers: str | None = None
    stripe_api_key: str | None = None
    stripe_api_base: str | None = None
    stripe_webhook_secret: str | None = None
    max_content_length: int = 1024 * 1024
    evidence_dir: Path = field(default_factory=lambda: INSTANCE_DIR / "evidence")
    event_source: str = "/marketplace"
    #: ``MARKETPLACE_SANDBOX``: tenders may carry an ``accelerator`` (never in production).
    sandbox: bool = False
    #: ``OCDS_PREFIX``: the publisher's registered prefix; ``ocid`` = prefix-tender id.
    ocds_prefix: str = "ocds-xxxxxx"
    #: ``TENDER_SEALING_KEYS``: ``id:base64key[,id:base64key...]``, the first seals, every
    #: one opens (rotation: put a new key first; see docs/tenders.md). Empty: one key
    #: derived from ``secret_key`` (id ``secret``), for development.
    sealing_keys: str = ""
    #: ``MARKETPLACE_FRONTEND_DIR``: the installed front-end packages (``node_modules``)
    #: whose compiled CSS, JavaScript and assets the pages serve.
    frontend_dir: Path = DEFAULT_FRONTEND_DIR

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        env = dict(os.environ if env is None else env)
        return cls(
            database_url=normalise_database_url(
                env.get("DATABASE_URL") or _default_database_url()
            ),
            secret_key=env.get("SECRET_KEY") or _dev_secret_key(),
            kafka_bootstrap_servers=env.get("KAFKA_BOOTSTRAP_SERVERS") or None,
            stripe_api_key=env.get("STRIPE_API_KEY") or None,
            stripe_api_base=env.get("STRIPE_API_BASE") or None,
            stripe_webhook_secret=env.get("STRIPE_WEBHOOK_SECRET") or None,
            max_content_length=int(env.get("MAX_CONTENT_LENGTH", 1024 * 1024)),
            sandbox=_true(env.get("MARKETPLACE_SANDBOX")),
            ocds_prefix=env.get("OCDS_PREFIX") or "ocds-xxxxxx",
            sealing_keys=env.get("TENDER_SEALING_KEYS") or "",
            frontend_dir=Path(env.get("MARKETPLACE_FRONTEND_DIR") or DEFAULT_FRONTEND_DIR),
        )

    def with_overrides(self, **overrides: Any) -> Settings:
        if "database_url" in overrides:
            overrides["database_url"] = normalise_database_url(overrides["database_url"])
        return replace(self, **overrides)
