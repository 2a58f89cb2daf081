"""Figures and words on pages as people read them: integer pence as pounds, days as
"1 December 2026", moments in Europe/London, stored words ("patient_information",
"cancer.triage") as text. The one place pages format them; templates reach them as
globals (``marketplace.web.pages.install``) or through :func:`formatting`."""
from __future__ import annotations

from datetime import date, datetime
from typing import Any

from marketplace.kernel.clock import LONDON


def label(value: Any) -> str:
    """A stored word as text: ``cancer.patient_information`` -> "Cancer: patient
    information"."""
    return str(value or "").replace("_", " ").replace(".", ": ").capitalize()


def pounds(pence: int | None) -> str:
    """Integer pence as pounds: 123456 -> "£1,234.56"; None -> "Not stated"."""
    if pence is None:
        return "Not stated"
    sign = "-" if pence < 0 else ""
    whole, part = divmod(abs(int(pence)), 100)
    return f"{sign}£{whole:,}.{part:02d}"


def number(value: int | None) -> str:
    return "Not stated" if value is None else f"{int(value):,}"


def _as_date(value: date | datetime | str) -> date:
    if isinstance(value, datetime):
        return value.astimezone(LONDON).date() if value.tzinfo else value.date()
    if isinstance(value, date):
        return value
    text = str(value)
    return _as_date(datetime.fromisoformat(text)) if "T" in text else date.fromisoformat(text)


def long_date(value: date | datetime | str | None) -> str:
    """A day as "1 December 2026" (a time: its day in Europe/London)."""
    if value is None or value == "":
        return ""
    day = _as_date(value)
    return f"{day.day} {day:%B %Y}"


def london_time(value: datetime | str | None) -> str:
    """A moment in Europe/London: "1 December 2026 at 5:30pm"."""
    if value is None or value == "":
        return ""
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    local = moment.astimezone(LONDON) if moment.tzinfo else moment
    hour = local.hour % 12 or 12
    return (f"{local.day} {local:%B %Y} at {hour}:{local.minute:02d}"
            f"{'am' if local.hour < 12 else 'pm'}")


def words(table: dict[str, str]) -> Any:
    """A function giving a stored word's wording from ``table``, else :func:`label`."""
    return lambda value: table.get(value, label(value))


def formatting() -> dict[str, Any]:
    """The helpers templates format figures with (every template has them as globals,
    with :func:`label`: :data:`TEMPLATE_GLOBALS`)."""
    return {"pounds": pounds, "number": number, "long_date": long_date,
            "london_time": london_time, "day": long_date, "london": london_time}


TEMPLATE_GLOBALS: dict[str, Any] = {"label": label, **formatting()}
