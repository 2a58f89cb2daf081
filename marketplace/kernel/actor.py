"""Who is acting: the identity every service call and audit row carries."""
from __future__ import annotations

from dataclasses import dataclass

from schemas.statuses import Role

#: The role of a caller that sent no token.
ANONYMOUS_ROLE = "anonymous"


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

    @property
    def is_anonymous(self) -> bool:
        """No token was sent (the HTTP layer's anonymous actor)."""
        return self.role == ANONYMOUS_ROLE


ANONYMOUS = Actor(id="anonymous", role=ANONYMOUS_ROLE, label="anonymous")
SYSTEM = Actor(id="system", role="system", label="marketplace system")
