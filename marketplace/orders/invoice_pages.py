"""The supplier's orders and invoicing them: ``/my/orders`` (the orders of the signed-in
innovator's organisation, as ``GET /api/v1/orders``) and ``/my/orders/<id>/invoice`` (an
invoice number, its date and the quantity billed per ordered item, loaded with the API's
``InvoiceIn`` and issued by ``invoices.issue``, which checks what is left to bill).
"""
from __future__ import annotations

from typing import Any

from flask import Blueprint, redirect, request
from werkzeug.datastructures import MultiDict

from marketplace.catalogue.listing_pages import innovator_only, page
from marketplace.http.pagination import paginate
from marketplace.kernel.errors import InvalidInput
from marketplace.orders import invoices
from marketplace.orders import service as orders
from marketplace.web.forms import Errors, body, domain_errors, load
from marketplace.web.pages import unit_of_work
from schemas.api.orders import InvoiceIn, OrderOut

bp = Blueprint("invoice_pages", __name__)

PER_PAGE = 50
LABELS = {"invoice_number": "Invoice number", "issue_date": "Invoice date",
          "tax_point_date": "Tax point", "lines": "Quantities"}


@bp.get("/my/orders")
def my_orders() -> Any:
    if (away := innovator_only()) is not None:
        return away
    with unit_of_work() as uow:
        found = paginate(uow.session, orders.list_query(uow), OrderOut(), 1, PER_PAGE)
    return page("innovator/orders.html", "Your orders", found=found)


def _lines_body(form: MultiDict[str, str], order: dict[str, Any]) -> list[dict[str, Any]]:
    """A line for every ordered item given a quantity (blank or 0: not billed now)."""
    lines = []
    for line in order["lines"]:
        value = form.get(f"quantity_{line['item_id']}", "").strip()
        if value and value != "0":
            lines.append({"item_id": line["item_id"],
                          "quantity": int(value) if value.isdigit() else value})
    return lines


def _flat(errors: Errors, lines: list[dict[str, Any]]) -> Errors:
    """Errors of the nested lines by the form's quantity fields."""
    out: Errors = {}
    for key, messages in errors.items():
        if key == "lines" and isinstance(messages, dict):
            for index, nested in messages.items():
                if str(index).isdigit() and int(index) < len(lines):
                    name = f"quantity_{lines[int(index)]['item_id']}"
                    out[name] = ([m for ms in nested.values() for m in ms]
                                 if isinstance(nested, dict) else nested)
                else:
                    out["lines"] = nested
        else:
            out[key] = messages
    return out


def _invoice_form(order_id: str, values: Any, errors: Errors,
                  status: int = 200) -> tuple[str, int]:
    with unit_of_work() as uow:
        order = OrderOut().dump(orders.get_visible(uow, order_id))
    labels = {**LABELS, **{f"quantity_{line['item_id']}": f"Quantity of {line['description']}"
                           for line in order["lines"]}}
    return page("innovator/invoice.html", f"Invoice order {order['order_number']}",
                status=status, order=order, values=values, errors=errors, labels=labels)


@bp.get("/my/orders/<order_id>/invoice")
def invoice_form(order_id: str) -> Any:
    if (away := innovator_only()) is not None:
        return away
    return _invoice_form(order_id, MultiDict(), {})


@bp.post("/my/orders/<order_id>/invoice")
def issue_invoice(order_id: str) -> Any:
    if (away := innovator_only()) is not None:
        return away
    with unit_of_work() as uow:
        order = OrderOut().dump(orders.get_visible(uow, order_id))
    data = body(request.form)
    data = {k: v for k, v in data.items() if not k.startswith("quantity_")}
    data["lines"] = _lines_body(request.form, order)
    loaded, errors = load(InvoiceIn, data)
    if errors:
        return _invoice_form(order_id, request.form, _flat(errors, data["lines"]), 422)
    try:
        with unit_of_work() as uow:
            invoices.issue(uow, order_id, **loaded)
            uow.commit()
    except InvalidInput as exc:
        return _invoice_form(order_id, request.form,
                             _flat(domain_errors(exc), data["lines"]), 422)
    return redirect("/my/orders?invoiced=1", 303)
