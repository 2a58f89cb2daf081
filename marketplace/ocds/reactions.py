"""What the OCDS area does when a tender or contract changes: it publishes a release."""
from __future__ import annotations

from marketplace.kernel.unit_of_work import Reaction

#: Event (or notified fact) name -> the reactions that write its OCDS release.
REACTIONS: dict[str, tuple[Reaction, ...]] = {}
