"""``/api/v1/tenders``: tenders, clarifications, sealed responses, evaluation and award."""
from __future__ import annotations

from marketplace.http.endpoint import ApiBlueprint

bp = ApiBlueprint("tenders", __name__)
