"""Forms on pages: what a person typed, loaded with the API's own schema, so a page can
never accept what the API refuses; errors come back by field for the error summary.

A form's fields are strings; :func:`load` turns the submitted form into the body the API
would get (lists from repeated fields, numbers from digits, pounds to pence where the
page asks in pounds) before the schema loads it.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from marshmallow import Schema, ValidationError
from werkzeug.datastructures import MultiDict

from marketplace.http.problems import field_messages
from marketplace.kernel.errors import InvalidInput

Errors = dict[str, Any]


def body(form: MultiDict[str, str], *, lists: Iterable[str] = (), integers: Iterable[str] = (),
         pounds: Mapping[str, str] | None = None, flags: Iterable[str] = ()
         ) -> dict[str, Any]:
    """The JSON body the API would receive for this form: blank fields left out."""
    out: dict[str, Any] = {}
    for name in lists:
        out[name] = [v for v in form.getlist(name) if v.strip()]
    for name in flags:
        out[name] = form.get(name) in ("on", "true", "yes")
    skipped = {*lists, *flags, "csrf_token"}
    for name, value in form.items():
        if name in skipped or not value.strip():
            continue
        out[name] = value.strip()
    for name in integers:
        if name in out and out[name].lstrip("-").isdigit():
            out[name] = int(out[name])
    for field, pence_field in (pounds or {}).items():
        if field in out:
            out[pence_field] = _pence(out.pop(field))
    return out


def _pence(pounds: str) -> Any:
    try:
        value = Decimal(pounds.replace(",", "").removeprefix("£"))
    except InvalidOperation:
        return pounds  # the schema says what is wrong with it
    return int((value * 100).to_integral_value()) if value == value.quantize(
        Decimal("0.01")) else pounds


def load(schema: type[Schema], data: dict[str, Any]) -> tuple[dict[str, Any], Errors]:
    """``data`` loaded by the API's schema, or the errors by field."""
    try:
        return schema().load(data), {}
    except ValidationError as exc:
        return {}, field_messages(exc)


def load_filters(schema: type[Schema], values: Mapping[str, str]
                 ) -> tuple[dict[str, Any], Errors]:
    """A list page's filters (blank ones left out) loaded by the API's query schema."""
    return load(schema, {k: v for k, v in values.items() if v})


def domain_errors(exc: InvalidInput) -> Errors:
    """A service's 422 as form errors (its field map, or its detail for the whole form)."""
    errors = dict(exc.extra.get("errors") or {})
    return errors or {"_schema": [exc.detail]}
