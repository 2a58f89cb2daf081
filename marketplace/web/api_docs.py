"""``/api/v1/docs``: the OpenAPI document rendered for people by Swagger UI, served from
the pinned ``swagger-ui-dist`` package (nothing loaded from elsewhere)."""
from __future__ import annotations

from flask import Blueprint, render_template

bp = Blueprint("api_docs", __name__)


@bp.get("/api/v1/docs")
def api_docs() -> str:
    return render_template("api_docs.html")
