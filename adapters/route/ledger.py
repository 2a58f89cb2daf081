"""The chart of accounts and how a rule posts a balanced journal to it.

One place for account codes, their subjectives and the accounting period, so every
rule that posts (funding, orders, invoices, payments) builds journal lines the same
way; ``docs/adapter-journal.md`` is the human-readable form.
"""
from __future__ import annotations

from datetime import date

from adapters.route.interface import EventFacts, JournalLine

# account code -> subjective (what the natural account means); see docs/adapter-journal.md
ACCOUNTS: dict[str, str] = {
    "580100": "Digital health innovation services",
    "180100": "VAT recoverable",
    "310100": "Trade payables",
    "120100": "Cash at bank (GBS)",
    "990100": "Commitments (purchase order encumbrance)",
    "990900": "Commitment reserve",
    "980100": "Innovation funding budget",
    "980900": "Budget reserve",
}
FUNDING_COST_CENTRE = "FUNDING"


def period_of(day: date) -> tuple[str, str]:
    """Oracle-style period name (``JUL-26``) and NHS financial year (``2026/27``)."""
    start = day.year if day.month >= 4 else day.year - 1
    return day.strftime("%b-%y").upper(), f"{start}/{(start + 1) % 100:02d}"


class Journal:
    """Builds one balanced journal (a list of lines sharing a journal id)."""

    def __init__(self, trust: str, category: str, code: str, event: EventFacts, day: date,
                 reference: str, currency: str = "GBP") -> None:
        self.trust, self.category, self.event, self.reference = trust, category, event, reference
        self.journal_id = f"{trust}-{code}-{event.id}"
        self.day, self.currency = day, currency
        self.lines: list[JournalLine] = []

    def line(self, account: str, debit: int, credit: int, cost_centre: str,
             description: str) -> None:
        if debit < 0 or credit < 0:
            debit, credit = -credit, -debit
        if debit == 0 and credit == 0:
            return
        period, year = period_of(self.day)
        self.lines.append(JournalLine(
            journal_id=self.journal_id, line_number=len(self.lines) + 1,
            category=self.category, accounting_date=self.day.isoformat(),
            period_name=period, financial_year=year, entity=self.trust,
            cost_centre=cost_centre, account_code=account, subjective=ACCOUNTS[account],
            debit_pence=debit, credit_pence=credit, currency=self.currency,
            description=description[:240], reference=self.reference,
            source_event_id=self.event.id, source_event_type=self.event.type))

    def pair(self, debit_account: str, credit_account: str, amount: int, cost_centre: str,
             description: str) -> None:
        """Debit one account and credit another by ``amount`` (negative: the reverse)."""
        self.line(debit_account, amount, 0, cost_centre, description)
        self.line(credit_account, 0, amount, cost_centre, description)
