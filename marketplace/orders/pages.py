"""A trust's orders and invoices, for its finance system's people (role ``trust_system``).

* ``/trust/orders``: the trust's orders (as ``GET /api/v1/orders``), newest first;
* ``/trust/orders/<id>``: an order's lines, totals, VAT, invoices and payments, and for a
  refused order every check it failed (the refusal is a record, not a form error);
* ``/trust/orders/new``: place a call-off order under a contract the trust may call off
  (as ``POST /api/v1/orders``): first the contract, then a quantity per contract item;
* ``/trust/invoices/<id>``: an invoice with its lines, VAT and payments, and the form
  that pays it through Stripe (as ``POST /api/v1/invoices/<id>/payments``).

Each view parses its form with the API's schema and calls the service the API calls, in
a unit of work acting as the signed-in person; the rules are the services'.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, abort, redirect, request
from werkzeug.datastructures import MultiDict
from werkzeug.wrappers import Response

from marketplace.contracts import service as contracts
from marketplace.contracts.models import Contract
from marketplace.funding import service as funding
from marketplace.http.pagination import paginate
from marketplace.kernel.errors import InvalidInput, Unavailable
from marketplace.kernel.unit_of_work import UnitOfWork
from marketplace.orders import invoices, payments
from marketplace.orders import service as orders
from marketplace.web.formatting import formatting, label
from marketplace.web.forms import Errors, body, domain_errors, load
from marketplace.web.pages import current_actor, page_number, render, unit_of_work
from schemas.api.orders import InvoiceOut, OrderIn, OrderOut, PaymentIn, PaymentOut
from schemas.statuses import AllocationStatus, Role

bp = Blueprint("orders_pages", __name__)

PER_PAGE = 20
TRUST_ROLES = frozenset({Role.TRUST_SYSTEM.value})
#: The failed checks of a refused order, in words (codes of ``order.rejected``).
CHECK_WORDS = {"contract_not_active": "Contract not in force",
               "trust_not_eligible": "Trust not eligible",
               "approval_not_current": "No live central approval",
               "item_not_on_contract": "Item not on the contract",
               "price_mismatch": "Price above the framework ceiling",
               "over_contract_quantity": "Over the contract's quantity",
               "over_contract_value": "Over the contract's value",
               "funding_insufficient": "Funding does not cover the order"}
LABELS = {"contract_id": "Contract", "order_number": "Order number",
          "buyer_reference": "Buyer reference", "lines": "Quantities",
          "funding_allocation_id": "Funding allocation",
          "payment_method": "Stripe PaymentMethod id"}
DEMO_CARD = "pm_card_visa"



def signed_in_as(roles: Iterable[str]) -> Response | None:
    """Anonymous: the sign-in page, coming back here; another role: 403."""
    actor = current_actor()
    if actor.is_anonymous:
        here = request.full_path.rstrip("?") if request.query_string else request.path
        return redirect("/sign-in?" + urlencode({"next": here}), 303)  # type: ignore[return-value]
    if str(actor.role) not in roles:
        abort(403)
    return None


@bp.before_request
def _trusts_only() -> Response | None:
    return signed_in_as(TRUST_ROLES)


def _context() -> dict[str, Any]:
    return {"label": label, "check_words": lambda code: CHECK_WORDS.get(code, label(code)),
            **formatting()}




# --- orders -----------------------------------------------------------------------------
@bp.get("/trust/orders")
def order_list() -> tuple[str, int]:
    with unit_of_work() as uow:
        found = paginate(uow.session, orders.list_query(uow), OrderOut(), page_number(),
                         PER_PAGE)
    return render("trust/orders.html", "Orders", found=found,
                  **_context())


@bp.get("/trust/orders/<order_id>")
def order(order_id: str) -> tuple[str, int]:
    with unit_of_work() as uow:
        placed = orders.get_visible(uow, order_id)
        shown = OrderOut().dump(placed)
        contract = {"reference": placed.contract.reference,
                    "supplier": placed.supplier_organisation.name}
        paid = [{**PaymentOut().dump(p), "invoice_number": invoice.invoice_number}
                for invoice in placed.invoices for p in invoice.payments]
    return render("trust/order.html", f"Order {shown['order_number']}", order=shown,
                  contract=contract, payments=paid, **_context())


def _contract_view(contract: Contract) -> dict[str, Any]:
    return {"id": contract.id, "reference": contract.reference, "status": contract.status,
            "supplier": contract.supplier_organisation.name,
            "innovation": contract.innovation.name, "value_pence": contract.value_pence,
            "starts_on": contract.starts_on, "ends_on": contract.ends_on,
            "lines": [{"name": f"quantity-{n}", "item_id": line.item_id,
                       "description": line.description, "unit_code": line.unit_code,
                       "unit_price_pence": line.unit_price_pence,
                       "vat_rate": line.vat_rate, "max_quantity": line.max_quantity}
                      for n, line in enumerate(contract.lines, start=1)]}


def _allocations(uow: UnitOfWork) -> list[tuple[str, str]]:
    """The trust's active funding allocations, as options of the funding select."""
    code = uow.actor.organisation_code
    pounds = formatting()["pounds"]
    return [(a.id, f"{pot.title}: {a.purpose} ({pounds(a.remaining_pence)} left)")
            for pot in uow.session.scalars(funding.list_query(uow))
            for a in pot.allocations
            if a.recipient.code == code and a.status == AllocationStatus.ACTIVE]


def _order_form(contract_id: str | None, values: Mapping[str, Any], errors: Errors,
                status: int = 200) -> tuple[str, int]:
    with unit_of_work() as uow:
        choices = [_contract_view(c) for c in uow.session.scalars(contracts.list_query(uow))]
        if contract_id is None and len(choices) == 1:
            contract_id = choices[0]["id"]
        chosen = (_contract_view(contracts.get_visible(uow, contract_id))
                  if contract_id else None)
        allocations = _allocations(uow) if chosen else []
    labels = {**LABELS, **{line["name"]: f"Quantity of {line['description']}"
                           for line in (chosen or {}).get("lines", [])}}
    return render("trust/new_order.html", "Place an order", status=status,
                  contracts=choices, contract=chosen, allocations=allocations,
                  values=values, errors=errors, labels=labels, **_context())


@bp.get("/trust/orders/new")
def new_order() -> tuple[str, int]:
    return _order_form(request.args.get("contract_id") or None, MultiDict(), {})


def _order_body(form: MultiDict[str, str], contract: dict[str, Any]
                ) -> tuple[dict[str, Any], list[str]]:
    """The body ``POST /api/v1/orders`` would get, and the input each line came from."""
    data = body(form)
    lines, names = [], []
    for line in contract["lines"]:
        data.pop(line["name"], None)
        value = form.get(line["name"], "").strip().replace(",", "")
        if not value:
            continue  # not ordered
        quantity: Any = int(value) if value.lstrip("-").isdigit() else value
        lines.append({"item_id": line["item_id"], "quantity": quantity})
        names.append(line["name"])
    data["lines"] = lines
    return data, names


def _line_errors(errors: Errors, names: list[str]) -> Errors:
    """Errors of ``lines[n]`` on the quantity input it came from."""
    found = errors.pop("lines", None)
    if isinstance(found, Mapping):
        for index, messages in found.items():
            name = names[int(index)] if str(index).isdigit() and int(index) < len(names) \
                else "lines"
            flat = [m for ms in (messages.values() if isinstance(messages, Mapping)
                                 else [messages]) for m in ms]
            errors[name] = flat
    elif found:
        errors["lines"] = ["Enter a quantity of at least one item"] \
            if not names else found
    return errors


@bp.post("/trust/orders/new")
def place_order() -> tuple[str, int] | Response:
    form = request.form
    contract_id = form.get("contract_id", "").strip()
    if not contract_id:
        return _order_form(None, form, {"contract_id": ["Choose a contract"]}, 422)
    with unit_of_work() as uow:
        contract = _contract_view(contracts.get_visible(uow, contract_id))
    data, names = _order_body(form, contract)
    loaded, errors = load(OrderIn, data)
    if errors:
        return _order_form(contract_id, form, _line_errors(dict(errors), names), 422)
    try:
        with unit_of_work() as uow:
            placed = orders.place(uow, **loaded)
            uow.commit()
            order_id = placed.id
    except InvalidInput as exc:
        return _order_form(contract_id, form, _line_errors(domain_errors(exc), names), 422)
    return redirect(f"/trust/orders/{order_id}", 303)


# --- invoices ---------------------------------------------------------------------------
def _invoice_page(invoice_id: str, values: Mapping[str, Any], errors: Errors,
                  unavailable: str | None = None, status: int = 200) -> tuple[str, int]:
    with unit_of_work() as uow:
        billed = invoices.get_visible(uow, invoice_id)
        shown = InvoiceOut().dump(billed)
        supplier = billed.supplier_organisation.name
    return render("trust/invoice.html", f"Invoice {shown['invoice_number']}", status=status,
                  invoice=shown, supplier=supplier, values=values, errors=errors,
                  unavailable=unavailable, labels=LABELS, **_context())


@bp.get("/trust/invoices/<invoice_id>")
def invoice(invoice_id: str) -> tuple[str, int]:
    return _invoice_page(invoice_id, {"payment_method": DEMO_CARD}, {})


@bp.post("/trust/invoices/<invoice_id>/payments")
def pay_invoice(invoice_id: str) -> tuple[str, int] | Response:
    form = request.form
    loaded, errors = load(PaymentIn, body(form))
    if errors:
        return _invoice_page(invoice_id, form, errors, status=422)
    try:
        with unit_of_work() as uow:
            payments.pay(uow, invoice_id, **loaded)
            uow.commit()
    except Unavailable as exc:
        return _invoice_page(invoice_id, form, {}, unavailable=exc.detail, status=503)
    except InvalidInput as exc:
        return _invoice_page(invoice_id, form, domain_errors(exc), status=422)
    return redirect(f"/trust/invoices/{invoice_id}", 303)
