"""``/api/v1/ocds``: open contracting release packages and record packages."""
from __future__ import annotations

from marketplace.http.endpoint import ApiBlueprint

bp = ApiBlueprint("ocds", __name__)
