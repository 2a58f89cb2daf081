"""``/buy/contracts``: the contracts an ICB buyer's ICB holds (``GET /api/v1/contracts``),
a contract's page, and signing it once the standstill has ended
(``POST /api/v1/contracts/{id}/sign``: a 409 before then, shown on the page)."""
from __future__ import annotations

from typing import Any

from flask import Blueprint, redirect

from marketplace.contracts import service as contracts
from marketplace.demand.signal_pages import buyer_only
from marketplace.http.pagination import paginate
from marketplace.kernel.errors import Conflict
from marketplace.web.formatting import formatting
from marketplace.web.pages import render, unit_of_work
from schemas.api.contracts import ContractOut

bp = Blueprint("contract_pages", __name__)

PER_PAGE = 100


def _context() -> dict[str, Any]:
    return formatting()


@bp.get("/buy/contracts")
def contract_list() -> Any:
    if (refused := buyer_only()) is not None:
        return refused
    with unit_of_work() as uow:
        found = paginate(uow.session, contracts.list_query(uow), ContractOut(), 1, PER_PAGE)
    return render("buyer/contracts.html", "Your contracts", found=found, **_context())


def _contract_page(contract_id: str, notice: str | None = None, status: int = 200
                   ) -> tuple[str, int]:
    with unit_of_work() as uow:
        contract = ContractOut().dump(contracts.get_visible(uow, contract_id))
    return render("buyer/contract.html", f"Contract {contract['reference']}", status=status,
                  contract=contract, notice=notice, **_context())


@bp.get("/buy/contracts/<contract_id>")
def contract_page(contract_id: str) -> Any:
    if (refused := buyer_only()) is not None:
        return refused
    return _contract_page(contract_id)


@bp.post("/buy/contracts/<contract_id>/sign")
def sign(contract_id: str) -> Any:
    if (refused := buyer_only()) is not None:
        return refused
    try:
        with unit_of_work() as uow:
            contracts.sign(uow, contract_id)
            uow.commit()
    except Conflict as exc:
        return _contract_page(contract_id, notice=exc.detail, status=409)
    return redirect(f"/buy/contracts/{contract_id}", 303)
