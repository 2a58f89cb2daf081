"""The command line: migrations, organisations and tokens, as an operator uses them."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner
from flask.testing import FlaskClient
from sqlalchemy import select

from marketplace.entrypoints.cli import main
from marketplace.identity.models import ApiToken
from marketplace.identity.service import hash_token
from tests.conftest import bearer


def _run(args: list[str], database_url: str) -> str:
    result = CliRunner().invoke(main, args, env={"DATABASE_URL": database_url,
                                                 "SECRET_KEY": "x"})
    assert result.exit_code == 0, result.output
    return result.output


def test_org_add_token_create_use_and_revoke(database_url: str, client: FlaskClient,
                                             uow_factory) -> None:  # type: ignore[no-untyped-def]
    _run(["org", "add", "--ods", "QOP", "--kind", "icb", "--name", "GM ICB"], database_url)
    _run(["org", "add", "--ods", "R0A", "--kind", "trust", "--name", "MFT", "--parent", "QOP"],
         database_url)
    output = _run(["token", "create", "--ods", "R0A", "--role", "trust_system",
                   "--name", "finance adapter"], database_url)
    plain = output.strip().splitlines()[-1]
    assert plain.startswith("nhsm_") and " " not in plain

    with uow_factory() as uow:
        token = uow.session.scalar(select(ApiToken))
        token_id = token.id
        assert token.token_hash == hash_token(plain) and plain not in token.token_hash
        assert token.last_used_at is None
    response = client.get("/api/v1/audit", headers=bearer(plain))
    assert response.status_code == 200
    with uow_factory() as uow:
        assert uow.session.scalar(select(ApiToken)).last_used_at is not None

    _run(["token", "revoke", token_id], database_url)
    assert client.get("/api/v1/audit", headers=bearer(plain)).status_code == 401


def test_admin_token_takes_no_ods_and_mismatched_role_fails(database_url: str) -> None:
    output = _run(["token", "create", "--role", "admin", "--name", "ops"], database_url)
    assert output.strip().splitlines()[-1].startswith("nhsm_")
    _run(["org", "add", "--ods", "QOP", "--kind", "icb", "--name", "GM ICB"], database_url)
    result = CliRunner().invoke(main, ["token", "create", "--ods", "QOP", "--role", "innovator",
                                       "--name", "x"], env={"DATABASE_URL": database_url})
    assert result.exit_code == 1 and "of kind innovator" in result.output
    result = CliRunner().invoke(main, ["org", "add", "--ods", "ZZ", "--kind", "icb",
                                       "--name", "x"], env={"DATABASE_URL": database_url})
    assert result.exit_code == 1 and "ICB ODS code" in result.output


def test_db_upgrade_console_script_is_idempotent(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    for _ in range(2):
        done = subprocess.run([sys.executable, "-m", "marketplace.entrypoints.cli", "db",
                               "upgrade"],
                              env={"DATABASE_URL": url, "SECRET_KEY": "x", "PATH": ""},
                              capture_output=True, text=True, check=False)
        assert done.returncode == 0, done.stderr
        assert "database at revision" in done.stdout
