"""``/api/v1/contracts``: contracts created by awards, signed after the standstill.

Only the parties read a contract (the buyer ICB's buyers, the supplier, the eligible
trusts once it is signed, the operator); to anyone else it is a 404 and lists leave it
out. The buyer acts: signs (409 until the standstill has ended), varies and terminates
(both with ``If-Match``). Each step is one guarded transition: 409 with the allowed
actions when the status does not allow it.
"""
from __future__ import annotations

from typing import Any

from marketplace.contracts import service as contracts
from marketplace.http.endpoint import ApiBlueprint, Call
from schemas.api.contracts import ContractOut, ContractQuery, TerminateIn, VaryIn
from schemas.statuses import Role, words

bp = ApiBlueprint("contracts", __name__)

#: Every signed-in caller may ask; what it finds is what it is a party to.
ANY_ROLE = words(Role)
BUYER = (Role.ICB_BUYER.value,)
ACTS = {"response": ContractOut, "etag": True, "idempotent": True}


@bp.endpoint("GET", "/contracts", roles=ANY_ROLE, query=ContractQuery, response=ContractOut,
             paginated=True, summary="The contracts you are a party to, newest first")
def list_contracts(call: Call) -> Any:
    return contracts.list_query(call.uow, **{k: v for k, v in call.query.items()
                                             if k not in ("page", "per_page")})


@bp.endpoint("GET", "/contracts/<contract_id>", roles=ANY_ROLE, response=ContractOut,
             etag=True, errors=(404,), summary="A contract you are a party to")
def get_contract(call: Call, contract_id: str) -> Any:
    return contracts.get_visible(call.uow, contract_id)


@bp.endpoint("POST", "/contracts/<contract_id>/sign", roles=BUYER, errors=(403, 404, 409),
             summary="Sign a pending contract once the standstill has ended (409 before)",
             **ACTS)
def sign_contract(call: Call, contract_id: str) -> Any:
    return contracts.sign(call.uow, contract_id)


@bp.endpoint("POST", "/contracts/<contract_id>/vary", roles=BUYER, body=VaryIn,
             if_match=True, errors=(403, 404, 409),
             summary="Vary an active contract: value, end date or lines, with a reason",
             **ACTS)
def vary_contract(call: Call, contract_id: str) -> Any:
    assert call.expected_version is not None
    return contracts.vary(call.uow, contract_id, expected_version=call.expected_version,
                          **call.body)


@bp.endpoint("POST", "/contracts/<contract_id>/terminate", roles=BUYER, body=TerminateIn,
             if_match=True, errors=(403, 404, 409),
             summary="Terminate an active contract early, with a reason", **ACTS)
def terminate_contract(call: Call, contract_id: str) -> Any:
    assert call.expected_version is not None
    return contracts.terminate(call.uow, contract_id, expected_version=call.expected_version,
                               **call.body)
