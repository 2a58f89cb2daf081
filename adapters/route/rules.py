"""The rule table: which rule applies each event type, the version of that rule set, and
:func:`apply`, the one entry point the runtime calls.

The version sits beside the table because changing any rule's behaviour means a new
version (applied by replaying into a fresh register, never mixed into an old one).
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from adapters.route.approvals import (
    approval_decided,
    approval_expired,
    approval_revoked,
    approval_suspended,
)
from adapters.route.contracts import contract_in_force, contract_terminated
from adapters.route.frameworks import (
    framework_award_granted,
    framework_award_withdrawn,
    framework_expired,
    framework_published,
)
from adapters.route.funding import funding_allocated, funding_changed, funding_withdrawn
from adapters.route.interface import Effects, EventFacts, Rule, View, ignored
from adapters.route.invoices import invoice_issued
from adapters.route.orders import order_placed, order_rejected
from adapters.route.payments import payment_failed, payment_received

ROUTE_VERSION = "2026.1"

RULES: dict[str, Rule] = {
    "approval.granted": approval_decided,
    "approval.conditional": approval_decided,
    "approval.suspended": approval_suspended,
    "approval.revoked": approval_revoked,
    "approval.expired": approval_expired,
    "framework.published": framework_published,
    "framework.award.granted": framework_award_granted,
    "framework.award.withdrawn": framework_award_withdrawn,
    "framework.expired": framework_expired,
    "contract.signed": contract_in_force,
    "contract.varied": contract_in_force,
    "contract.terminated": contract_terminated,
    "funding.allocated": funding_allocated,
    "funding.changed": funding_changed,
    "funding.withdrawn": funding_withdrawn,
    "order.placed": order_placed,
    "order.rejected": order_rejected,
    "invoice.issued": invoice_issued,
    "payment.received": payment_received,
    "payment.failed": payment_failed,
}


def apply(trust: str, data: Mapping[str, Any], event: EventFacts, view: View) -> Effects:
    """The route's effects of one event at ``trust``.

    Types without a rule (listings, demand signals, tenders) change nothing at a
    trust; they are still recorded as applied, so sequences stay gap-free.
    """
    rule = RULES.get(event.name)
    if rule is None:
        return ignored("no route rule for this type")
    return rule(trust, data, event, view)
