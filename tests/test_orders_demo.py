"""``marketplace seed-demo`` adds funding from several kinds of funder and an order under
the demo's signed contract, drawing on the trust's funding and invoiced by the supplier;
seeding twice adds nothing. (With Stripe configured the invoice is paid too:
``tests/test_payments.py``.)"""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from flask.testing import FlaskClient

from marketplace.demo import seed
from marketplace.kernel.unit_of_work import UnitOfWork
from tests.catalogue_support import outbox_events
from tests.conftest import bearer

ADDED = ("funding", "order", "invoice", "payment", "VAT")


def test_demo_funding_order_and_invoice_and_seeding_twice_adds_nothing(
        client: FlaskClient, uow_factory: Callable[..., UnitOfWork],
        make_token: Callable[..., str], tmp_path: Path) -> None:
    runs = []
    for _ in range(2):
        with uow_factory() as uow:
            runs.append([line for line in seed(uow, tmp_path) if line.startswith(ADDED)])
            uow.commit()
    first, second = runs
    assert second == []
    assert "order RAL-PO-2026-000417 by RAL (placed)" in first
    assert "invoice CNS-INV-2026-0031 for order RAL-PO-2026-000417" in first
    assert not any(line.startswith("payment") for line in first)  # no Stripe configured

    pots = client.get("/api/v1/funding?per_page=100").get_json()["items"]
    assert {p["funder_type"] for p in pots} == {"nhs_england", "charity", "icb",
                                                "pharma_joint_working"}
    trust = bearer(make_token("trust_system", "RAL"))
    [order] = client.get("/api/v1/orders", headers=trust).get_json()["items"]
    assert order["status"] == "placed" and order["funding_allocation_id"]
    [invoice] = order["invoices"]
    assert invoice["status"] == "issued"
    names = [e["ce_type"].split(".")[-2] for e in outbox_events(uow_factory, "order.")]
    assert names == ["placed"]
    [issued] = outbox_events(uow_factory, "invoice.issued")
    assert issued["data"]["supplier"]["vat_number"] == "GB214587302"
