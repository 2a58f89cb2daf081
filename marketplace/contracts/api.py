"""``/api/v1/contracts``: contracts created by awards, signed after the standstill."""
from __future__ import annotations

from marketplace.http.endpoint import ApiBlueprint

bp = ApiBlueprint("contracts", __name__)
