"""What a rule receives and returns: the boundary between the rules and the runtime.

A rule is a pure function of the trust, the event's data, its envelope facts and a
read-only :class:`View` of the register; it returns :class:`Effects` (rows to write,
journal lines, documents to issue) and never touches a database, a file or the clock.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from adapters.route.tables import Record


@dataclass(frozen=True)
class EventFacts:
    """The envelope facts a rule may use (never the wall clock)."""

    id: str
    type: str
    name: str  # e.g. "order.placed"
    time: str
    sequence: int


@dataclass(frozen=True)
class JournalLine:
    journal_id: str
    line_number: int
    category: str
    accounting_date: str
    period_name: str
    financial_year: str
    entity: str
    cost_centre: str
    account_code: str
    subjective: str
    debit_pence: int
    credit_pence: int
    currency: str
    description: str
    reference: str
    source_event_id: str
    source_event_type: str


@dataclass(frozen=True)
class Document:
    """A Peppol document to issue: ``kind`` is ``order`` or ``invoice``; ``record`` the row."""

    kind: str
    path: str
    record: Record


@dataclass
class Effects:
    outcome: str
    puts: list[tuple[str, Record]] = field(default_factory=list)
    journal: list[JournalLine] = field(default_factory=list)
    documents: list[Document] = field(default_factory=list)


class View(Protocol):
    """Read-only access to the trust's register."""

    def get(self, table: str, key: str) -> Record | None: ...

    def where(self, table: str, **equals: Any) -> list[Record]: ...


Rule = Callable[[str, Mapping[str, Any], EventFacts, View], Effects]


def ignored(reason: str) -> Effects:
    """The effects of an event the route records as applied but that changes nothing."""
    return Effects(outcome=f"ignored: {reason}")


def for_me(trust: str, code: str) -> bool:
    """Whether the trust an event names (``trust_ods``, ``recipient_ods``) is this one."""
    return trust == code
