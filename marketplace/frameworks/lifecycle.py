"""The lifecycles of a framework agreement and of a supplier's award on one of its lots.

    framework:  draft --add_lot--> draft --publish--> published --award--> published
                published --expire--> expired                 (marketplace tick, ends_at)
    award:      active --withdraw--> withdrawn                (admin, or the approval ended)
                active --expire--> expired                    (marketplace tick, ends_at)

Lots are fixed once published (``framework.published`` carries them and no event
changes them). Call-offs under a published framework are allowed from ``starts_at``:
"published but not started" follows from the timestamps, so it is derived when read
(``period``), never stored. ``expired`` and ``withdrawn`` are final.

:func:`call_off_blockers` is the one rule of whether an award is in force at an instant:
other areas (orders, framework competitions) ask it through the service.
"""
from __future__ import annotations

import enum
from datetime import datetime
from typing import TYPE_CHECKING

from marketplace.approvals.lifecycle import PRE_APPROVED
from marketplace.kernel.state_machine import StateMachine
from schemas.statuses import AwardStatus, FrameworkStatus

if TYPE_CHECKING:
    from marketplace.frameworks.models import FrameworkAward


class FrameworkAction(enum.StrEnum):
    ADD_LOT = "add_lot"
    PUBLISH = "publish"
    AWARD = "award"
    EXPIRE = "expire"


class AwardAction(enum.StrEnum):
    WITHDRAW = "withdraw"
    EXPIRE = "expire"


F, FA, W, WA = FrameworkStatus, FrameworkAction, AwardStatus, AwardAction

FRAMEWORK_TRANSITIONS: dict[tuple[str, str], str] = {
    (F.DRAFT, FA.ADD_LOT): F.DRAFT,
    (F.DRAFT, FA.PUBLISH): F.PUBLISHED,
    (F.PUBLISHED, FA.AWARD): F.PUBLISHED,
    (F.PUBLISHED, FA.EXPIRE): F.EXPIRED,
}
AWARD_TRANSITIONS: dict[tuple[str, str], str] = {
    (W.ACTIVE, WA.WITHDRAW): W.WITHDRAWN,
    (W.ACTIVE, WA.EXPIRE): W.EXPIRED,
}

FRAMEWORK = StateMachine(
    subject="framework",
    transitions=FRAMEWORK_TRANSITIONS,
    terminal=frozenset({F.EXPIRED}),
    done={FA.ADD_LOT: "given a new lot", FA.PUBLISH: "published",
          FA.AWARD: "awarded under", FA.EXPIRE: "expired"},
)
AWARD = StateMachine(
    subject="framework award",
    transitions=AWARD_TRANSITIONS,
    terminal=frozenset({W.WITHDRAWN, W.EXPIRED}),
    done={WA.WITHDRAW: "withdrawn", WA.EXPIRE: "expired"},
)

#: Statuses a framework / an award expires from when ``ends_at`` is reached.
FRAMEWORK_EXPIRABLE: tuple[str, ...] = tuple(FRAMEWORK.allowed_from(FA.EXPIRE))
AWARD_EXPIRABLE: tuple[str, ...] = tuple(AWARD.allowed_from(WA.EXPIRE))


def expiry_due(status: str, expirable: tuple[str, ...], ends_at: datetime,
               now: datetime) -> bool:
    """Whether a framework or award in ``status`` ending at ``ends_at`` expires ``now``."""
    return status in expirable and ends_at <= now


def call_off_blockers(award: FrameworkAward, at: datetime) -> list[str]:
    """Why no new call-off (or further competition) may rest on ``award`` at ``at``;
    empty when the award is in force."""
    framework, approval = award.framework, award.approval
    reasons = []
    if award.status != W.ACTIVE:
        reasons.append(f"the award is {award.status}")
    elif not award.starts_at <= at < award.ends_at:
        reasons.append(f"the award runs from {award.starts_at.isoformat()} to "
                       f"{award.ends_at.isoformat()}")
    if framework.status != F.PUBLISHED:
        reasons.append(f"the framework is {framework.status}")
    elif not framework.starts_at <= at < framework.ends_at:
        reasons.append(f"the framework runs from {framework.starts_at.isoformat()} to "
                       f"{framework.ends_at.isoformat()}")
    if approval.status not in PRE_APPROVED:
        reasons.append(f"the central approval of version {approval.product_version} is "
                       f"{approval.status}")
    elif approval.expires_at <= at:
        reasons.append(f"the central approval of version {approval.product_version} "
                       f"lapsed at {approval.expires_at.isoformat()}")
    return reasons
