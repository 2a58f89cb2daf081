"""Every rule of the procurement route, through the adapter's real transaction path
(inbox, sequence, route, register, outputs) without a broker: events are applied
directly with ``EventConsumer.apply``. The broker paths are in the other
``test_adapter_*`` modules."""
from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from adapters import register, route
from schemas.events.common import EX_APPROVAL, EX_CONTRACT, EX_ORDER_LINES, EX_SUPPLIER
from tests.adapter_support import (
    ORDER_GROSS,
    TRUST_A,
    TRUST_B,
    Stream,
    apply_all,
    data_for,
    direct_adapter,
    files,
    invoice_data,
    order_data,
    rows,
)
from tests.dbs import scratch_postgres_database

ORDER = "ord-R0A-0"


def _order_outcome(tmp_path: Path, build: Callable[[Stream], None],
                   order: dict[str, Any] | None = None) -> dict[str, Any]:
    stream = Stream()
    build(stream)
    stream.add("order.placed", order or order_data(order_id=ORDER))
    adapter = direct_adapter(tmp_path)
    apply_all(adapter, stream)
    return rows(adapter, "purchase_order")[ORDER]


def _reference(**funding: Any) -> Callable[[Stream], None]:
    return lambda s: s.reference_data(**funding)


def test_an_order_passing_every_check_becomes_a_purchase_order(tmp_path: Path) -> None:
    stream = Stream().reference_data()
    stream.add("order.placed", order_data(order_id=ORDER, funding_allocation_id=None))
    stream.add("order.placed", order_data(order_id="funded"))
    adapter = direct_adapter(tmp_path)
    apply_all(adapter, stream)
    orders = rows(adapter, "purchase_order")
    assert {o["status"] for o in orders.values()} == {"accepted"}
    assert orders[ORDER]["reasons"] == []
    out = tmp_path / TRUST_A
    assert (out / f"peppol/orders/{ORDER}.xml").exists()
    assert (out / "peppol/orders/funded.xml").exists()
    line = rows(adapter, "funding_line")[data_for("funding.allocated")["allocation_id"]]
    assert line["committed_pence"] == ORDER_GROSS  # only the funded order draws on it
    journal = (out / "journal/2026-07.csv").read_text().splitlines()
    assert sum("Commitment" in row for row in journal) == 4  # two orders, two lines each


def _suspend_before(s: Stream) -> None:
    s.reference_data()
    s.add("approval.suspended", data_for("approval.suspended",
                                         suspended_at="2026-07-01T09:00:00+01:00"))


def _terminate_before(s: Stream) -> None:
    s.reference_data()
    s.add("contract.terminated", data_for("contract.terminated", effective_on="2026-07-03",
                                          terminated_at="2026-07-02T09:00:00+01:00"))


def _contract_only_for_b(s: Stream) -> None:
    s.add("approval.granted", data_for("approval.granted"))
    s.add("contract.signed", data_for("contract.signed", eligible_trusts=[TRUST_B]))


def _expired_approval(s: Stream) -> None:
    s.reference_data()
    s.add("approval.expired", data_for("approval.expired", expires_at="2026-07-05T00:00:00Z",
                                       expired_at="2026-07-05T00:05:00Z"))


def _contract_above_ceiling(s: Stream) -> None:
    s.reference_data()
    lines = [{**line, "unit_price_pence": 2_100_000} if line["line_id"] == "1" else line
             for line in data_for("contract.signed")["lines"]]
    s.add("contract.varied", data_for("contract.varied", lines=lines,
                                      eligible_trusts=[TRUST_A, TRUST_B]))


def _pricey_lines() -> list[dict[str, Any]]:
    return [{**line, "unit_price_pence": 2_100_000,
             "net_pence": line["quantity"] * 2_100_000} if line["line_id"] == "1" else line
            for line in EX_ORDER_LINES]


def _lines(**changes: Any) -> list[dict[str, Any]]:
    first = {**EX_ORDER_LINES[0], **changes}
    first["net_pence"] = first["quantity"] * first["unit_price_pence"]
    return [first, EX_ORDER_LINES[1]]


REJECTIONS: dict[str, tuple[Callable[[Stream], None], dict[str, Any] | None, str]] = {
    "contract unknown": (lambda s: s.add("approval.granted", data_for("approval.granted")),
                         None, "contract_not_active"),
    "before the contract starts": (_reference(), order_data(
        order_id=ORDER, placed_at="2026-06-20T10:00:00+01:00"), "contract_not_active"),
    "contract terminated": (_terminate_before, None, "contract_not_active"),
    "trust not eligible": (_contract_only_for_b, None, "trust_not_eligible"),
    "supplier not onboarded": (_reference(), order_data(
        order_id=ORDER, supplier={**EX_SUPPLIER, "org_id": "someone-else"}),
        "supplier_not_onboarded"),
    "approval suspended at order time": (_suspend_before, None, "approval_not_current"),
    "approval expired": (_expired_approval, None, "approval_not_current"),
    "no approval at all": (lambda s: s.add("contract.signed", data_for(
        "contract.signed", eligible_trusts=[TRUST_A])), None, "approval_not_current"),
    "item not on the contract": (_reference(), order_data(
        order_id=ORDER, lines=_lines(item_id="NOT-ON-IT")), "item_not_on_contract"),
    "price differs from the contract": (_reference(), order_data(
        order_id=ORDER, lines=_lines(unit_price_pence=1_900_000)), "price_mismatch"),
    "above the framework ceiling": (_contract_above_ceiling, order_data(
        order_id=ORDER, lines=_pricey_lines(), funding_allocation_id=None), "price_mismatch"),
    "over the contract quantity": (_reference(), order_data(
        order_id=ORDER, lines=_lines(quantity=13), funding_allocation_id=None),
        "over_contract_quantity"),
    "funding line too small": (_reference(funding_pence=1_000_000), None,
                               "funding_insufficient"),
    "funding line unknown": (_reference(), order_data(
        order_id=ORDER, funding_allocation_id="nope"), "funding_insufficient"),
}


@pytest.mark.parametrize("case", sorted(REJECTIONS))
def test_an_order_failing_a_check_is_rejected_locally_with_the_reason(
        tmp_path: Path, case: str) -> None:
    build, order, reason = REJECTIONS[case]
    outcome = _order_outcome(tmp_path, build, order)
    assert outcome["status"] == "rejected"
    assert any(r.startswith(reason) for r in outcome["reasons"]), outcome["reasons"]
    assert not (tmp_path / TRUST_A / "peppol" / "orders").exists()
    assert not list((tmp_path / TRUST_A).glob("journal/2026-07.csv"))


def test_a_suspension_after_the_order_does_not_undo_it(tmp_path: Path) -> None:
    """Event times decide, so the order of arrival across aggregates does not."""
    def build(s: Stream) -> None:
        s.reference_data()
        s.add("approval.suspended", data_for("approval.suspended"))  # 2026-08-04
    assert _order_outcome(tmp_path, build)["status"] == "accepted"


def test_totals_are_checked_locally_too() -> None:
    data = order_data(order_id=ORDER)
    data["totals"] = {**data["totals"], "vat_pence": data["totals"]["vat_pence"] + 1}
    failures = route.order_checks(TRUST_A, data, _EmptyView())
    assert failures[0][0] == "totals_inconsistent"


class _EmptyView:
    def get(self, table: str, key: str) -> None:
        return None

    def where(self, table: str, **equals: Any) -> list[dict[str, Any]]:
        return []


def _purchase(tmp_path: Path, *extra: tuple[str, dict[str, Any]]) -> Any:
    stream = Stream().reference_data()
    stream.add("order.placed", order_data(order_id=ORDER))
    for name, data in extra:
        stream.add(name, data)
    adapter = direct_adapter(tmp_path)
    apply_all(adapter, stream)
    return adapter


def _invoice(n: int = 0, **overrides: Any) -> tuple[str, dict[str, Any]]:
    return "invoice.issued", invoice_data(order_id=ORDER, invoice_id=f"inv-{n}",
                                          invoice_number=f"INV-{n}", **overrides)


def test_a_matching_invoice_is_posted_and_frees_the_commitment(tmp_path: Path) -> None:
    adapter = _purchase(tmp_path, _invoice())
    invoice = rows(adapter, "invoice")["inv-0"]
    assert (invoice["match_status"], invoice["mismatches"]) == ("matched", [])
    order = rows(adapter, "purchase_order")[ORDER]
    assert order["invoiced_gross_pence"] == order["gross_pence"] == invoice["gross_pence"]
    journal = (tmp_path / TRUST_A / "journal/2026-08.csv").read_text().splitlines()
    assert [r.split(",")[8] for r in journal[1:]] == ["580100", "180100", "310100", "990900",
                                                      "990100"]


def _invoice_lines(**changes: Any) -> list[dict[str, Any]]:
    lines = [{**line, "order_line_id": line["line_id"]} for line in EX_ORDER_LINES]
    lines[0] = {**lines[0], **changes}
    lines[0]["net_pence"] = lines[0]["quantity"] * lines[0]["unit_price_pence"]
    return lines


MISMATCHES = {
    "more than ordered": (_invoice_lines(quantity=3), "quantity_exceeds_order"),
    "another price": (_invoice_lines(unit_price_pence=1_900_000), "price_mismatch"),
    "a line not on the order": (_invoice_lines(order_line_id="9"), "line_not_on_order"),
    "another item": (_invoice_lines(item_id="OTHER"), "item_mismatch"),
}


@pytest.mark.parametrize("case", sorted(MISMATCHES))
def test_an_invoice_that_does_not_match_is_held_with_the_reason(tmp_path: Path,
                                                                 case: str) -> None:
    lines, reason = MISMATCHES[case]
    adapter = _purchase(tmp_path, _invoice(lines=lines))
    invoice = rows(adapter, "invoice")["inv-0"]
    assert invoice["match_status"] == "mismatch"
    assert invoice["payment_status"] == "on_hold"
    assert any(m.startswith(reason) for m in invoice["mismatches"]), invoice["mismatches"]
    assert (tmp_path / TRUST_A / "peppol/invoices/inv-0.xml").exists()  # still delivered
    assert not (tmp_path / TRUST_A / "journal/2026-08.csv").exists()  # never posted


def test_a_second_invoice_for_the_same_quantity_is_a_mismatch(tmp_path: Path) -> None:
    adapter = _purchase(tmp_path, _invoice(0), _invoice(1))
    invoices = rows(adapter, "invoice")
    assert invoices["inv-0"]["match_status"] == "matched"
    assert invoices["inv-1"]["match_status"] == "mismatch"


def test_an_invoice_for_a_rejected_order_is_a_mismatch(tmp_path: Path) -> None:
    stream = Stream()
    stream.add("order.placed", order_data(order_id=ORDER))  # no contract: rejected
    stream.add(*_invoice())
    adapter = direct_adapter(tmp_path)
    apply_all(adapter, stream)
    assert rows(adapter, "invoice")["inv-0"]["mismatches"][0].startswith("order_not_accepted")


def _payment(n: int, amount: int, invoice: str = "inv-0") -> tuple[str, dict[str, Any]]:
    return "payment.received", data_for("payment.received", order_id=ORDER, trust_ods=TRUST_A,
                                        invoice_id=invoice, payment_id=f"pay-{n}",
                                        amount_pence=amount)


def test_payments_reconcile_the_invoice(tmp_path: Path) -> None:
    adapter = _purchase(tmp_path, _invoice(), _payment(1, 1_000_000),
                        _payment(2, ORDER_GROSS - 1_000_000))
    payments = rows(adapter, "payment")
    assert {p["reconciliation"] for p in payments.values()} == {"reconciled"}
    invoice = rows(adapter, "invoice")["inv-0"]
    assert (invoice["paid_pence"], invoice["payment_status"]) == (ORDER_GROSS, "paid")


def test_partial_over_and_unknown_payments(tmp_path: Path) -> None:
    failed = data_for("payment.failed", order_id=ORDER, invoice_id="inv-0", trust_ods=TRUST_A,
                      payment_id="pay-9")
    adapter = _purchase(tmp_path, _invoice(), _payment(1, 100), _payment(2, ORDER_GROSS),
                        _payment(3, 100, invoice="no-such-invoice"),
                        ("payment.failed", failed))
    payments = rows(adapter, "payment")
    assert payments["pay-1"]["reconciliation"] == "reconciled"
    assert payments["pay-2"]["reconciliation"] == "overpaid"
    assert payments["pay-3"]["reconciliation"] == "unreconciled"
    assert payments["pay-9"]["status"] == "failed"
    invoice = rows(adapter, "invoice")["inv-0"]
    assert (invoice["paid_pence"], invoice["payment_status"]) == (100, "part_paid")


def test_a_marketplace_rejection_cancels_the_purchase_order(tmp_path: Path) -> None:
    adapter = _purchase(tmp_path, ("order.rejected", data_for(
        "order.rejected", order_id=ORDER, trust_ods=TRUST_A)))
    order = rows(adapter, "purchase_order")[ORDER]
    assert order["status"] == "cancelled"
    line = rows(adapter, "funding_line")[data_for("funding.allocated")["allocation_id"]]
    assert line["committed_pence"] == 0
    journal = (tmp_path / TRUST_A / "journal/2026-08.csv").read_text().splitlines()[1:]
    debits = sum(int(r.split(",")[10]) for r in journal)
    assert debits == sum(int(r.split(",")[11]) for r in journal) == order["net_pence"]


def test_events_for_other_trusts_are_ignored_but_recorded(tmp_path: Path) -> None:
    stream = Stream().reference_data().purchase_to_pay(TRUST_B)
    stream.add("funding.allocated", data_for("funding.allocated", recipient_ods=TRUST_B,
                                             allocation_id="alloc-b"))
    adapter = direct_adapter(tmp_path)
    apply_all(adapter, stream)
    for table in ("purchase_order", "invoice", "payment"):
        assert rows(adapter, table) == {}
    assert set(rows(adapter, "funding_line")) == {data_for("funding.allocated")[
        "allocation_id"]}
    with adapter.engine.connect() as conn:
        seen = register.last_sequences(conn, adapter.config.consumer_name)
        inbox = conn.execute(select(register.inbox.c.ce_id)).all()
    assert seen[f"order/ord-{TRUST_B}-0"] == 3 and len(inbox) == len(stream.events)


def test_the_approved_innovation_list_follows_the_approval(tmp_path: Path) -> None:
    stream = Stream()
    stream.add("approval.conditional", data_for("approval.conditional"))
    stream.add("approval.suspended", data_for("approval.suspended"))
    stream.add("approval.granted", data_for("approval.granted", reinstated=True))
    second = "b1d94e7b-1c28-4f6a-b0e5-9d7c3a2f1b87"
    stream.add("approval.granted", data_for("approval.granted", approval_id=second))
    stream.add("approval.revoked", data_for("approval.revoked", approval_id=second))
    adapter = direct_adapter(tmp_path)
    apply_all(adapter, stream)
    approvals = rows(adapter, "approval")
    assert approvals[EX_APPROVAL]["status"] == "approved"
    assert approvals[EX_APPROVAL]["expires_at"] == "2027-02-28T23:59:59+00:00"
    assert approvals[second]["status"] == "revoked"
    assert approvals[second]["status_reason"].startswith("regulatory_action")


def test_framework_awards_onboard_suppliers_until_withdrawn_or_expired(tmp_path: Path) -> None:
    stream = Stream().reference_data()
    stream.add("framework.award.withdrawn", data_for("framework.award.withdrawn"))
    stream.add("framework.expired", data_for("framework.expired"))
    stream.add("contract.terminated", data_for("contract.terminated"))
    adapter = direct_adapter(tmp_path)
    apply_all(adapter, stream)
    suppliers = rows(adapter, "supplier")
    award = suppliers[f"framework_award:{data_for('framework.award.granted')['award_id']}"]
    assert (award["status"], award["valid_until"]) == ("withdrawn",
                                                       "2026-09-02T08:00:00+00:00")
    assert suppliers[f"contract:{EX_CONTRACT}"]["status"] == "terminated"
    assert rows(adapter, "framework")[data_for("framework.expired")["framework_id"]][
        "status"] == "expired"
    assert rows(adapter, "contract")[EX_CONTRACT]["effective_end_on"] == "2026-09-30"


def test_funding_changes_move_the_budget_line(tmp_path: Path) -> None:
    stream = Stream().reference_data(funding_pence=4_000_000)
    stream.add("funding.changed", data_for("funding.changed", recipient_ods=TRUST_A))
    stream.add("funding.withdrawn", data_for("funding.withdrawn", recipient_ods=TRUST_A))
    adapter = direct_adapter(tmp_path)
    apply_all(adapter, stream)
    line = rows(adapter, "funding_line")[data_for("funding.allocated")["allocation_id"]]
    assert (line["status"], line["amount_pence"]) == ("withdrawn", 0)
    budget = []
    for path in sorted((tmp_path / TRUST_A / "journal").glob("*.csv")):
        budget += [r.split(",") for r in path.read_text().splitlines()[1:]]
    net = sum(int(r[10]) - int(r[11]) for r in budget if r[8] == "980100")
    assert net == 0  # allocated 4m, +0.8m, withdrawn 4.8m


def test_every_journal_balances_and_the_state_hash_ignores_trust_records(
        tmp_path: Path) -> None:
    a = direct_adapter(tmp_path, TRUST_A)
    b = direct_adapter(tmp_path, TRUST_B)
    stream = Stream().reference_data().purchase_to_pay(TRUST_A).purchase_to_pay(TRUST_B)
    apply_all(a, stream)
    apply_all(b, stream)
    with a.engine.connect() as ca, b.engine.connect() as cb:
        (shared_a, all_a), (shared_b, all_b) = register.hashes(ca), register.hashes(cb)
        lines = ca.execute(select(register.journal_line)).mappings().all()
    assert shared_a == shared_b and all_a != all_b
    totals: dict[str, list[int]] = {}
    for line in lines:
        debit_credit = totals.setdefault(line["journal_id"], [0, 0])
        debit_credit[0] += line["debit_pence"]
        debit_credit[1] += line["credit_pence"]
    assert totals and all(d == c for d, c in totals.values())


@pytest.mark.skipif(not os.environ.get("TEST_DATABASE_URL"), reason="TEST_DATABASE_URL unset")
def test_a_postgresql_register_matches_a_sqlite_one(tmp_path: Path) -> None:
    """Values are stored as the route produced them, so both backends hash the same."""
    stream = Stream().reference_data().purchase_to_pay(TRUST_A).purchase_to_pay(TRUST_B)
    on_sqlite = direct_adapter(tmp_path / "sqlite")
    apply_all(on_sqlite, stream)
    with scratch_postgres_database(os.environ["TEST_DATABASE_URL"], prefix="adapter") as url:
        on_postgres = direct_adapter(tmp_path / "pg", database_url=url)
        apply_all(on_postgres, stream)
        with on_sqlite.engine.connect() as lite, on_postgres.engine.connect() as pg:
            assert register.hashes(pg) == register.hashes(lite)
            assert register.counts(pg) == register.counts(lite)
        assert files(tmp_path / "pg" / TRUST_A) == files(tmp_path / "sqlite" / TRUST_A)
        on_postgres.engine.dispose()
