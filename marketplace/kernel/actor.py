"""Who is acting: the identity every service call and audit row carries."""
from __future__ import annotations

from dataclasses import dataclass

from marketplace.models.identity import Role


@dataclass(frozen=True)
class Actor:
    id: str
    role: Role | str
    organisation_id: int | None = None
    organisation_code: str | None = None
    label: str = ""

    @property
    def is_admin(self) -> bool:
        return self.role == Role.ADMIN


SYSTEM = Actor(id="system", role="system", label="marketplace system")
