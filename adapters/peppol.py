"""Peppol BIS documents from register rows: Order 3.0 (UBL 2.1 Order) and Billing 3.0
(UBL 2.1 Invoice).

Built with lxml in the element order the UBL 2.1
schemas require, with amounts as decimal pounds to two places. Everything comes from
the row (event data) and the trust's identity, never the clock, so a replay renders
the same bytes. Parties carry endpoint ids: the supplier's Peppol participant id
(else its UK VAT number under scheme 9932); the trust's from its configuration.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from lxml import etree as ET

from adapters.route import london_day

UBL_ORDER = "urn:oasis:names:specification:ubl:schema:xsd:Order-2"
UBL_INVOICE = "urn:oasis:names:specification:ubl:schema:xsd:Invoice-2"
CAC = "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2"
CBC = "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2"

ORDER_CUSTOMIZATION = "urn:fdc:peppol.eu:poacc:trns:order:3"
ORDER_PROFILE = "urn:fdc:peppol.eu:poacc:bis:order_only:3"
INVOICE_CUSTOMIZATION = ("urn:cen.eu:en16931:2017#compliant#"
                         "urn:fdc:peppol.eu:2017:poacc:billing:3.0")
INVOICE_PROFILE = "urn:fdc:peppol.eu:2017:poacc:billing:01:1.0"
VAT_SCHEME_EAS = "9932"  # Peppol EAS: United Kingdom VAT number
# VAT categories that need an exemption reason on the breakdown (BR-E-10, BR-AE-10, BR-O-10).
EXEMPTION_REASONS = {"E": ("VATEX-EU-132", "Exempt from VAT"),
                     "AE": ("VATEX-EU-AE", "Reverse charge"),
                     "O": ("VATEX-EU-O", "Not subject to VAT")}


@dataclass(frozen=True)
class TrustIdentity:
    """Who the trust is on its documents: ODS code, legal name, Peppol endpoint."""

    ods: str
    legal_name: str
    endpoint_scheme: str
    endpoint_id: str
    country_code: str = "GB"

    @classmethod
    def default(cls, ods: str, legal_name: str | None = None,
                peppol_id: str | None = None) -> TrustIdentity:
        """``peppol_id`` is ``scheme:id``; without one, the ``EM`` (e-mail) scheme with the
        trust's accounts payable mailbox stands in (set a real participant id in production)."""
        scheme, _, ident = (peppol_id or f"EM:accounts.payable.{ods.lower()}@nhs.net"
                            ).partition(":")
        return cls(ods=ods, legal_name=legal_name or f"NHS trust {ods}",
                   endpoint_scheme=scheme, endpoint_id=ident)


def money(pence: int) -> str:
    return f"{Decimal(pence) / 100:.2f}"


def percent(rate: str) -> str:
    value = Decimal(rate).normalize()
    return f"{value:f}"


def _sub(parent: ET._Element, ns: str, tag: str, text: str | None = None,
         **attrs: str) -> ET._Element:
    element = ET.SubElement(parent, f"{{{ns}}}{tag}", attrs)
    if text is not None:
        element.text = text
    return element


def _cbc(parent: ET._Element, tag: str, text: str, **attrs: str) -> ET._Element:
    return _sub(parent, CBC, tag, text, **attrs)


def _cac(parent: ET._Element, tag: str) -> ET._Element:
    return _sub(parent, CAC, tag)


def _amount(parent: ET._Element, tag: str, pence: int, currency: str) -> None:
    _cbc(parent, tag, money(pence), currencyID=currency)


def _country(parent: ET._Element, code: str) -> None:
    address = _cac(parent, "PostalAddress")
    _cbc(_cac(address, "Country"), "IdentificationCode", code)


def _supplier_party(parent: ET._Element, supplier: Mapping[str, Any],
                    with_vat: bool) -> None:
    party = _cac(parent, "Party")
    if supplier.get("peppol_participant_id"):
        scheme, _, ident = supplier["peppol_participant_id"].partition(":")
        _cbc(party, "EndpointID", ident, schemeID=scheme)
    elif supplier.get("vat_number"):
        _cbc(party, "EndpointID", supplier["vat_number"], schemeID=VAT_SCHEME_EAS)
    _cbc(_cac(party, "PartyIdentification"), "ID", supplier["companies_house_number"])
    _cbc(_cac(party, "PartyName"), "Name", supplier["legal_name"])
    _country(party, supplier["country_code"])
    if with_vat and supplier.get("vat_number"):
        scheme = _cac(party, "PartyTaxScheme")
        _cbc(scheme, "CompanyID", supplier["vat_number"])
        _cbc(_cac(scheme, "TaxScheme"), "ID", "VAT")
    legal = _cac(party, "PartyLegalEntity")
    _cbc(legal, "RegistrationName", supplier["legal_name"])
    _cbc(legal, "CompanyID", supplier["companies_house_number"])


def _trust_party(parent: ET._Element, trust: TrustIdentity) -> None:
    party = _cac(parent, "Party")
    _cbc(party, "EndpointID", trust.endpoint_id, schemeID=trust.endpoint_scheme)
    _cbc(_cac(party, "PartyIdentification"), "ID", trust.ods)
    _cbc(_cac(party, "PartyName"), "Name", trust.legal_name)
    _country(party, trust.country_code)
    _cbc(_cac(party, "PartyLegalEntity"), "RegistrationName", trust.legal_name)


def _tax_category(parent: ET._Element, tag: str, category: str, rate: str,
                  with_reason: bool = False) -> None:
    element = _cac(parent, tag)
    _cbc(element, "ID", category)
    if category != "O":  # BR-O-05 / BR-O-14: no rate for "not subject to VAT"
        _cbc(element, "Percent", percent(rate))
    if with_reason and category in EXEMPTION_REASONS:
        code, reason = EXEMPTION_REASONS[category]
        _cbc(element, "TaxExemptionReasonCode", code)
        _cbc(element, "TaxExemptionReason", reason)
    _cbc(_cac(element, "TaxScheme"), "ID", "VAT")


def _item(parent: ET._Element, line: Mapping[str, Any]) -> None:
    item = _cac(parent, "Item")
    _cbc(item, "Name", line["description"])
    _cbc(_cac(item, "SellersItemIdentification"), "ID", line["item_id"])
    _tax_category(item, "ClassifiedTaxCategory", line["vat_category"], line["vat_rate"])


def _root(namespace: str, tag: str) -> ET._Element:
    return ET.Element(f"{{{namespace}}}{tag}", nsmap={None: namespace, "cac": CAC, "cbc": CBC})


def _serialise(root: ET._Element) -> bytes:
    body = ET.tostring(root, encoding="UTF-8", pretty_print=True)
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + body


def order_xml(order: Mapping[str, Any], trust: TrustIdentity) -> bytes:
    """A Peppol BIS Order 3.0 (``order_only``) for an accepted purchase order row."""
    currency = order["currency"]
    root = _root(UBL_ORDER, "Order")
    _cbc(root, "CustomizationID", ORDER_CUSTOMIZATION)
    _cbc(root, "ProfileID", ORDER_PROFILE)
    _cbc(root, "ID", order["order_number"])
    placed = london_day(order["placed_at"])
    _cbc(root, "IssueDate", placed.isoformat())
    _cbc(root, "OrderTypeCode", "220")
    _cbc(root, "DocumentCurrencyCode", currency)
    _cbc(root, "CustomerReference", order["buyer_reference"])
    _cbc(_cac(root, "Contract"), "ID", order["contract_id"])
    _trust_party(_cac(root, "BuyerCustomerParty"), trust)
    _supplier_party(_cac(root, "SellerSupplierParty"), order["supplier"], with_vat=True)
    if order.get("delivery_site_ods") or order.get("requested_delivery_on"):
        delivery = _cac(root, "Delivery")
        if order.get("delivery_site_ods"):
            _cbc(_cac(delivery, "DeliveryLocation"), "ID", order["delivery_site_ods"])
        if order.get("requested_delivery_on"):
            _cbc(_cac(delivery, "RequestedDeliveryPeriod"), "StartDate",
                 order["requested_delivery_on"])
    _amount(_cac(root, "TaxTotal"), "TaxAmount", order["vat_pence"], currency)
    total = _cac(root, "AnticipatedMonetaryTotal")
    _amount(total, "LineExtensionAmount", order["net_pence"], currency)
    _amount(total, "TaxExclusiveAmount", order["net_pence"], currency)
    _amount(total, "TaxInclusiveAmount", order["gross_pence"], currency)
    _amount(total, "PayableAmount", order["gross_pence"], currency)
    for line in order["lines"]:
        item = _cac(_cac(root, "OrderLine"), "LineItem")
        _cbc(item, "ID", line["line_id"])
        _cbc(item, "Quantity", str(line["quantity"]), unitCode=line["unit_code"])
        _amount(item, "LineExtensionAmount", line["net_pence"], currency)
        _amount(_cac(item, "Price"), "PriceAmount", line["unit_price_pence"], currency)
        _item(item, line)
    return _serialise(root)


def invoice_xml(invoice: Mapping[str, Any], trust: TrustIdentity) -> bytes:
    """A Peppol BIS Billing 3.0 invoice (type 380) for an invoice row."""
    currency = invoice["currency"]
    categories = {group["vat_category"] for group in invoice["vat_breakdown"]}
    root = _root(UBL_INVOICE, "Invoice")
    _cbc(root, "CustomizationID", INVOICE_CUSTOMIZATION)
    _cbc(root, "ProfileID", INVOICE_PROFILE)
    _cbc(root, "ID", invoice["invoice_number"])
    _cbc(root, "IssueDate", invoice["issue_date"])
    _cbc(root, "DueDate", invoice["due_date"])
    _cbc(root, "InvoiceTypeCode", "380")
    if invoice.get("tax_point_date"):
        _cbc(root, "TaxPointDate", invoice["tax_point_date"])
    _cbc(root, "DocumentCurrencyCode", currency)
    _cbc(root, "BuyerReference", invoice["buyer_reference"])
    _cbc(_cac(root, "OrderReference"), "ID", invoice["order_number"])
    _cbc(_cac(root, "ContractDocumentReference"), "ID", invoice["contract_id"])
    _supplier_party(_cac(root, "AccountingSupplierParty"), invoice["supplier"],
                    with_vat="O" not in categories)
    _trust_party(_cac(root, "AccountingCustomerParty"), trust)
    tax = _cac(root, "TaxTotal")
    _amount(tax, "TaxAmount", invoice["vat_pence"], currency)
    for group in sorted(invoice["vat_breakdown"],
                        key=lambda g: (g["vat_category"], Decimal(g["vat_rate"]))):
        subtotal = _cac(tax, "TaxSubtotal")
        _amount(subtotal, "TaxableAmount", group["taxable_pence"], currency)
        _amount(subtotal, "TaxAmount", group["vat_pence"], currency)
        _tax_category(subtotal, "TaxCategory", group["vat_category"], group["vat_rate"],
                      with_reason=True)
    total = _cac(root, "LegalMonetaryTotal")
    _amount(total, "LineExtensionAmount", invoice["net_pence"], currency)
    _amount(total, "TaxExclusiveAmount", invoice["net_pence"], currency)
    _amount(total, "TaxInclusiveAmount", invoice["gross_pence"], currency)
    _amount(total, "PayableAmount", invoice["gross_pence"], currency)
    for line in invoice["lines"]:
        element = _cac(root, "InvoiceLine")
        _cbc(element, "ID", line["line_id"])
        _cbc(element, "InvoicedQuantity", str(line["quantity"]), unitCode=line["unit_code"])
        _amount(element, "LineExtensionAmount", line["net_pence"], currency)
        _cbc(_cac(element, "OrderLineReference"), "LineID", line["order_line_id"])
        _item(element, line)
        _amount(_cac(element, "Price"), "PriceAmount", line["unit_price_pence"], currency)
    return _serialise(root)


RENDERERS = {"order": order_xml, "invoice": invoice_xml}


def render(kind: str, record: Mapping[str, Any], trust: TrustIdentity) -> bytes:
    return RENDERERS[kind](record, trust)
