"""What falls due in the tenders area: a published tender closes at its enforced
submission deadline, with its ``tender.closed`` event (``marketplace tick``, with every
other deadline). The clarification deadline moves nothing: asking is refused after it by
the clock alone.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import Select, select

from marketplace.kernel.scheduler import Deadline
from marketplace.tenders import service
from marketplace.tenders.lifecycle import close_due
from marketplace.tenders.models import Tender
from schemas.statuses import TenderStatus


def _due(now: datetime) -> Select[tuple[Tender]]:
    return (select(Tender)
            .where(Tender.status == TenderStatus.PUBLISHED, Tender.submission_closes_at <= now)
            .order_by(Tender.submission_closes_at, Tender.id))


TENDER_CLOSE: Deadline[Tender] = Deadline(
    name="tender submission deadline",
    model=Tender,
    candidates=_due,
    is_due=lambda tender, now: close_due(tender.status, tender.submission_closes_at, now),
    fire=service.close,
    describe=lambda tender: (f"tender {tender.id} ({tender.reference}) closed with "
                             f"{tender.responses_received} responses"),
    summary=lambda n: f"closed {n} tender{'' if n == 1 else 's'}",
)

DEADLINES: tuple[Deadline[Tender], ...] = (TENDER_CLOSE,)
