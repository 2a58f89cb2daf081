"""What the OCDS area does when a tender or contract changes: it publishes a release.

Wired by :mod:`marketplace.bootstrap` (``REACTIONS``), each runs inside the unit of work
that emitted the event (or notified the fact), right after it, so the change and its
release commit together or not at all. Each reads only the ids from the payload and
builds the release from the rows (:mod:`marketplace.ocds.service`).
"""
from __future__ import annotations

from typing import Any

from marketplace.kernel.unit_of_work import Reaction, UnitOfWork
from marketplace.ocds import releases, service


def tender_published(uow: UnitOfWork, data: dict[str, Any]) -> None:
    """The tender notice (UK4)."""
    service.publish(uow, data["tender_id"], releases.TENDER)


def question_answered(uow: UnitOfWork, data: dict[str, Any]) -> None:
    """A clarification answered and published to everyone (a notified fact)."""
    service.publish(uow, data["tender_id"], releases.TENDER_UPDATE)


def tender_closed(uow: UnitOfWork, data: dict[str, Any]) -> None:
    """The deadline passed: the number of responses may be published, nothing of them."""
    service.publish(uow, data["tender_id"], releases.TENDER_UPDATE)


def tender_cancelled(uow: UnitOfWork, data: dict[str, Any]) -> None:
    """The procurement termination (UK12)."""
    service.publish(uow, data["tender_id"], releases.TENDER_CANCELLATION)


def tender_awarded(uow: UnitOfWork, data: dict[str, Any]) -> None:
    """The contract award notice (UK6); the event's value stands in only until the
    contract row exists."""
    service.publish(uow, data["tender_id"], releases.AWARD,
                    award_value_pence=data["award_value_pence"])


def contract_signed(uow: UnitOfWork, data: dict[str, Any]) -> None:
    """The contract details notice (UK7)."""
    service.publish_for_contract(uow, data["contract_id"], releases.CONTRACT)


def contract_varied(uow: UnitOfWork, data: dict[str, Any]) -> None:
    """The contract change notice (UK10)."""
    service.publish_for_contract(uow, data["contract_id"], releases.CONTRACT_AMENDMENT)


def contract_terminated(uow: UnitOfWork, data: dict[str, Any]) -> None:
    """The contract termination notice (UK11)."""
    service.publish_for_contract(uow, data["contract_id"], releases.CONTRACT_TERMINATION)


#: Event (or notified fact) name -> the reactions that write its OCDS release.
REACTIONS: dict[str, tuple[Reaction, ...]] = {
    "tender.published": (tender_published,),
    "tender.question.answered": (question_answered,),
    "tender.closed": (tender_closed,),
    "tender.cancelled": (tender_cancelled,),
    "tender.awarded": (tender_awarded,),
    "contract.signed": (contract_signed,),
    "contract.varied": (contract_varied,),
    "contract.terminated": (contract_terminated,),
}
