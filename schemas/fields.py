"""Shared marshmallow fields and validators for identifiers, money and time.

Every schema of the contract (API bodies and event payloads) builds on these, so an
ODS code, a Companies House number or an amount of money is checked the same way
everywhere. Validators are :class:`FullMatch` regular expressions so that the JSON
Schema / OpenAPI exporters (apispec) can carry the same rule as a ``pattern``.
"""
from __future__ import annotations

import re
from datetime import UTC
from typing import Any, Literal

from marshmallow import ValidationError, fields, validate

from schemas.identifiers import COMPANIES_HOUSE_PATTERN, ICB_ODS_PATTERN, TRUST_ODS_PATTERN

OdsKind = Literal["icb", "trust", "site", "any"]

ODS_PATTERN = r"^(Q[A-Z0-9]{2}|[RT][A-Z0-9]{2})$"
#: A trust's site: the trust's code and up to two more characters (e.g. ``RJ701``).
SITE_ODS_PATTERN = r"^[RT][A-Z0-9]{2,4}$"
_ODS_PATTERNS: dict[str, str] = {
    "icb": ICB_ODS_PATTERN, "trust": TRUST_ODS_PATTERN, "site": SITE_ODS_PATTERN,
    "any": ODS_PATTERN,
}
#: UK VAT registration: GB/XI and 9 or 12 digits, or the government/health formats.
VAT_NUMBER_PATTERN = r"^(GB|XI)([0-9]{9}|[0-9]{12}|GD[0-9]{3}|HA[0-9]{3})$"
#: Opaque identifiers: no spaces or slashes, so they can be joined into keys and paths.
ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$"
#: VAT rate as a decimal percentage string (``"20"``, ``"5"``, ``"0"``, ``"12.5"``),
#: never a float, so totals can be recomputed exactly.
PERCENT_PATTERN = r"^(100|[0-9]{1,2})(\.[0-9]{1,2})?$"
COUNTRY_PATTERN = r"^[A-Z]{2}$"
SHA256_HEX_PATTERN = r"^[0-9a-f]{64}$"
#: The largest integer every database stores (a signed 64-bit ``BIGINT``): the bound of
#: every integer a query string may carry.
BIGINT_MAX = 2**63 - 1
#: Currencies the marketplace accepts. Money is integer minor units (pence) plus this.
CURRENCIES: tuple[str, ...] = ("GBP",)


class FullMatch(validate.Regexp):
    """A :class:`~marshmallow.validate.Regexp` that must match the whole value.

    ``Regexp`` uses ``re.match``, which lets ``$`` match before a trailing newline
    (``"QWE\\n"`` would pass); the ``regex`` attribute stays so apispec exports it.
    """

    def __call__(self, value: Any) -> Any:
        if not isinstance(value, str) or self.regex.fullmatch(value) is None:
            raise ValidationError(self._format_error(value))
        return value


def ods_code(kind: OdsKind = "any") -> FullMatch:
    """A validator for an NHS ODS code of ``kind`` (upper case only)."""
    return FullMatch(_ODS_PATTERNS[kind], error=f"Not a valid {kind} ODS code.")


def companies_house_number() -> FullMatch:
    """A validator for a Companies House company number."""
    return FullMatch(COMPANIES_HOUSE_PATTERN, error="Not a valid Companies House number.")


def is_ods_code(value: str, kind: OdsKind = "any") -> bool:
    """Whether ``value`` is an ODS code of ``kind`` (for code outside schemas)."""
    return isinstance(value, str) and re.fullmatch(_ODS_PATTERNS[kind], value) is not None


def doc(description: str, *, optional: bool = False, **kwargs: Any) -> dict[str, Any]:
    """Field keyword arguments: a description, and either required or optional.

    Optional fields may be omitted on load and then read as ``null``, so the wire
    form always carries every key and consumers never guess between absent and null.
    """
    metadata = dict(kwargs.pop("metadata", None) or {})
    if description:
        metadata["description"] = description
    kwargs["metadata"] = metadata
    if optional:
        kwargs.setdefault("required", False)
        kwargs.setdefault("allow_none", True)
        kwargs.setdefault("load_default", None)
    else:
        kwargs.setdefault("required", True)
    return kwargs


def _with(validator: Any, kwargs: dict[str, Any]) -> dict[str, Any]:
    """Prepend ``validator`` to any validators passed by the caller."""
    extra = kwargs.pop("validate", None)
    if extra is None:
        extra = []
    elif callable(extra):
        extra = [extra]
    kwargs["validate"] = [validator, *extra]
    return kwargs


class Id(fields.String):
    """An opaque identifier of a marketplace object."""

    def __init__(self, description: str = "", *, optional: bool = False, **kwargs: Any):
        super().__init__(**_with(FullMatch(ID_PATTERN), doc(description, optional=optional,
                                                              **kwargs)))


class OrgId(fields.String):
    """An organisation as events name it: its stable marketplace id, a UUID that means the
    same organisation in every environment and after a restore. Events published before
    December 2026 carried the database row number instead; consumers replaying them still
    read them, so the field stays an opaque id (:data:`ID_PATTERN`) within ``v1``."""

    def __init__(self, description: str = "", *, optional: bool = False, **kwargs: Any):
        text = f"{description} Its stable marketplace organisation id, a UUID.".strip()
        super().__init__(**_with(FullMatch(ID_PATTERN),
                                 doc(text, optional=optional, **kwargs)))


class Text(fields.String):
    """Non-empty free text of bounded length (never personal data)."""

    def __init__(self, description: str = "", *, max_length: int = 200,
                 optional: bool = False, **kwargs: Any):
        super().__init__(**_with(validate.Length(min=1, max=max_length),
                                 doc(description, optional=optional, **kwargs)))


class Choice(fields.String):
    """One of a closed set of string values (exported as a JSON Schema ``enum``)."""

    def __init__(self, choices: tuple[str, ...] | list[str], description: str = "", *,
                 optional: bool = False, **kwargs: Any):
        super().__init__(**_with(validate.OneOf(list(choices)),
                                 doc(description, optional=optional, **kwargs)))


class Pattern(fields.String):
    """A string that must fully match ``pattern``."""

    def __init__(self, pattern: str, description: str = "", *, optional: bool = False,
                 error: str | None = None, **kwargs: Any):
        super().__init__(**_with(FullMatch(pattern, error=error),
                                 doc(description, optional=optional, **kwargs)))


class OdsCode(fields.String):
    """An NHS ODS code: ``kind`` is ``icb`` (``Q..``), ``trust`` (``R..``/``T..``) or any."""

    def __init__(self, description: str = "", *, kind: OdsKind = "any",
                 optional: bool = False, **kwargs: Any):
        super().__init__(**_with(ods_code(kind), doc(description, optional=optional,
                                                       **kwargs)))


class CompaniesHouseNumber(fields.String):
    """A Companies House company number (how innovators are identified)."""

    def __init__(self, description: str = "", *, optional: bool = False, **kwargs: Any):
        super().__init__(**_with(companies_house_number(),
                                 doc(description, optional=optional, **kwargs)))


class Pence(fields.Integer):
    """An amount of money in integer pence; non-negative unless ``signed`` (a delta)."""

    def __init__(self, description: str = "", *, signed: bool = False,
                 optional: bool = False, **kwargs: Any):
        kwargs = doc(description, optional=optional, **kwargs)
        if not signed:
            kwargs = _with(validate.Range(min=0), kwargs)
        super().__init__(strict=True, **kwargs)


class Count(fields.Integer):
    """A whole number of things, at least ``minimum``."""

    def __init__(self, description: str = "", *, minimum: int = 0,
                 optional: bool = False, **kwargs: Any):
        super().__init__(strict=True, **_with(validate.Range(min=minimum),
                                              doc(description, optional=optional,
                                                  **kwargs)))


class Currency(fields.String):
    """ISO 4217 currency of every ``*_pence`` amount beside it; only GBP is accepted."""

    def __init__(self, description: str = "ISO 4217 currency of the amounts; GBP.", *,
                 optional: bool = False, **kwargs: Any):
        super().__init__(**_with(validate.OneOf(list(CURRENCIES)),
                                 doc(description, optional=optional, **kwargs)))


class Instant(fields.AwareDateTime):
    """An aware instant that has a UTC form: ``0001-01-01T00:00+05:00`` lies before year 1 in
    UTC (and ``9999-12-31T23:00-05:00`` after 9999), which no database can store or
    compare, so it is refused here rather than failing in a query."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        moment = super()._deserialize(value, attr, data, **kwargs)
        try:
            moment.astimezone(UTC)
        except OverflowError:
            raise ValidationError("Out of range: the instant has no UTC form between the "
                                  "years 1 and 9999.") from None
        return moment


class Timestamp(Instant):
    """An instant, RFC 3339 with an offset; naive times are rejected."""

    def __init__(self, description: str = "", *, optional: bool = False, **kwargs: Any):
        super().__init__(format="iso", **doc(description, optional=optional, **kwargs))


class QueryInteger(fields.Integer):
    """A whole number in a query string (text), bounded by what every database stores."""

    def __init__(self, *, minimum: int = 0, maximum: int = BIGINT_MAX, **kwargs: Any):
        super().__init__(**_with(validate.Range(min=minimum, max=maximum), kwargs))


class Day(fields.Date):
    """A calendar date (``YYYY-MM-DD``), for things that are days: due dates, expiries."""

    def __init__(self, description: str = "", *, optional: bool = False, **kwargs: Any):
        super().__init__(format="iso", **doc(description, optional=optional, **kwargs))


class Flag(fields.Boolean):
    """A boolean that only accepts JSON ``true``/``false`` (not ``1``, ``"yes"``)."""

    def __init__(self, description: str = "", *, optional: bool = False, **kwargs: Any):
        super().__init__(**doc(description, optional=optional, **kwargs))

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> bool:
        if not isinstance(value, bool):
            raise self.make_error("invalid", input=value)
        return value
