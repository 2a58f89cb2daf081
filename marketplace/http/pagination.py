"""The list envelope: ``{items, page, per_page, total, links}``."""
from __future__ import annotations

import math
from typing import Any
from urllib.parse import urlencode

from flask import request
from marshmallow import Schema
from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from marketplace.kernel.mapped_query import MappedQuery
from schemas.fields import BIGINT_MAX, QueryInteger

MAX_PER_PAGE = 100
#: The offset ``(page - 1) * per_page`` must fit a 64-bit integer on every database.
MAX_PAGE = BIGINT_MAX // MAX_PER_PAGE


class PageQuery(Schema):
    page = QueryInteger(minimum=1, maximum=MAX_PAGE, load_default=1)
    per_page = QueryInteger(minimum=1, maximum=MAX_PER_PAGE, load_default=20)


def _link(page: int, per_page: int) -> str:
    args = {k: v for k, v in request.args.items() if k not in ("page", "per_page")}
    args.update(page=str(page), per_page=str(per_page))
    return f"{request.base_url}?{urlencode(args)}"


def envelope(items: list[Any], page: int, per_page: int, total: int) -> dict[str, Any]:
    last = max(1, math.ceil(total / per_page))
    links = {"self": _link(page, per_page), "first": _link(1, per_page),
             "last": _link(last, per_page)}
    if page > 1:
        links["prev"] = _link(min(page - 1, last), per_page)
    if page < last:
        links["next"] = _link(page + 1, per_page)
    return {"items": items, "page": page, "per_page": per_page, "total": total, "links": links}


def paginate(session: Session, stmt: Select[Any] | MappedQuery, schema: Schema, page: int,
             per_page: int) -> dict[str, Any]:
    """Run one page of ``stmt`` (which must have a total order) and wrap it in the envelope."""
    each = None
    if isinstance(stmt, MappedQuery):
        stmt, each = stmt.stmt, stmt.each
    total = session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery()))
    rows: list[Any] = list(session.scalars(
        stmt.limit(per_page).offset((page - 1) * per_page)).unique().all())
    if each is not None:
        rows = [each(row) for row in rows]
    return envelope(schema.dump(rows, many=True), page, per_page, int(total or 0))
