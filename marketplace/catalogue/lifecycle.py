"""The lifecycle of a catalogue listing: draft -> published -> withdrawn.

A draft may also be withdrawn (abandoned) without ever being listed. Withdrawal is final:
trusts have removed the listing from their catalogues, so a relaunch is a new listing.
"""
from __future__ import annotations

import enum

from marketplace.kernel.state_machine import StateMachine
from schemas.statuses import ListingStatus


class ListingAction(enum.StrEnum):
    PUBLISH = "publish"
    WITHDRAW = "withdraw"
    EDIT = "edit"


L, LA = ListingStatus, ListingAction

TRANSITIONS: dict[tuple[str, str], str] = {
    (L.DRAFT, LA.PUBLISH): L.PUBLISHED,
    (L.DRAFT, LA.WITHDRAW): L.WITHDRAWN,
    (L.PUBLISHED, LA.WITHDRAW): L.WITHDRAWN,
    (L.DRAFT, LA.EDIT): L.DRAFT,
    (L.PUBLISHED, LA.EDIT): L.PUBLISHED,
}

#: The action a PATCH of ``status`` asks for.
STATUS_ACTIONS: dict[str, ListingAction] = {L.PUBLISHED: LA.PUBLISH, L.WITHDRAWN: LA.WITHDRAW}

MACHINE = StateMachine(
    subject="listing",
    transitions=TRANSITIONS,
    terminal=frozenset({L.WITHDRAWN}),
    done={LA.PUBLISH: "published", LA.WITHDRAW: "withdrawn", LA.EDIT: "updated"},
)
