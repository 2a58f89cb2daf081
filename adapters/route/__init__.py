"""The procurement route: ONE versioned rule set that every trust adapter applies.

Pure functions, one per event type: given the trust, the event (validated wire
data and its envelope facts) and a read-only :class:`View` of the trust's register,
a rule returns :class:`Effects` (rows to write, journal lines, documents to issue)
and never touches a database, a file or the clock. Every time a rule uses is an
event time, so the same events give the same register at every trust and on every
replay. ``docs/adapter-route.md`` is the human-readable form of this package.

This module is the route's public face: everything outside imports from
``adapters.route``. The modules behind it, each importing only those listed
before it:

* :mod:`~adapters.route.tables` - the register's tables (shared and trust-only)
* :mod:`~adapters.route.dates` - event-time arithmetic (UTC instants, London days)
* :mod:`~adapters.route.interface` - what a rule receives and returns
* :mod:`~adapters.route.ledger` - the chart of accounts and journal postings
* :mod:`~adapters.route.approvals` - approval rules and "approved at"
* :mod:`~adapters.route.suppliers` - supplier onboarding rows and "onboarded at"
* :mod:`~adapters.route.frameworks`, :mod:`~adapters.route.contracts`,
  :mod:`~adapters.route.funding`, :mod:`~adapters.route.orders`,
  :mod:`~adapters.route.invoices`, :mod:`~adapters.route.payments` - the rules of
  each event family
* :mod:`~adapters.route.rules` - ``ROUTE_VERSION``, the rule table and :func:`apply`
* :mod:`~adapters.route.hashing` - canonical JSON, row digests and the state hash
"""
from __future__ import annotations

from adapters.route.approvals import approval_decided, approved_at
from adapters.route.contracts import contract_in_force, contract_terminated
from adapters.route.dates import LONDON, instant, london_day, utc
from adapters.route.frameworks import (
    framework_award_granted,
    framework_award_withdrawn,
    framework_expired,
    framework_published,
)
from adapters.route.funding import funding_allocated, funding_changed, funding_withdrawn
from adapters.route.hashing import canonical, row_digest, state_hash
from adapters.route.interface import Document, Effects, EventFacts, JournalLine, Rule, View
from adapters.route.invoices import invoice_issued, invoice_mismatches
from adapters.route.ledger import ACCOUNTS, FUNDING_COST_CENTRE, period_of
from adapters.route.orders import order_checks, order_placed, order_rejected
from adapters.route.payments import payment_failed, payment_received
from adapters.route.rules import ROUTE_VERSION, RULES, apply
from adapters.route.tables import SHARED_TABLES, TABLES, TRUST_TABLES, Record, key_column

__all__ = [
    "ACCOUNTS", "FUNDING_COST_CENTRE", "LONDON", "ROUTE_VERSION", "RULES", "SHARED_TABLES",
    "TABLES", "TRUST_TABLES", "Document", "Effects", "EventFacts", "JournalLine", "Record",
    "Rule", "View", "apply", "approval_decided", "approved_at", "canonical",
    "contract_in_force", "contract_terminated", "framework_award_granted",
    "framework_award_withdrawn", "framework_expired", "framework_published",
    "funding_allocated", "funding_changed", "funding_withdrawn", "instant",
    "invoice_issued", "invoice_mismatches", "key_column", "london_day", "order_checks",
    "order_placed", "order_rejected", "payment_failed", "payment_received", "period_of",
    "row_digest", "state_hash", "utc",
]
