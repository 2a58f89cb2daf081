"""``/api/v1/funding``: funding pots, their allocations and superseding changes.

Pots are public (anonymous callers included): each shows its allocated total, what is
left, the pharma transparency fields and every allocation with its chain of revisions.
A funder creates pots of its own organisation, an ICB buyer pots of its own ICB's money
(``funder_type`` ``icb``). Only the pot's owner allocates and changes allocations; since
the pot is public, anyone else who tries gets a 403, not a 404. A change is a POST that
creates a revision, so it takes ``Idempotency-Key`` like every creating POST, and it
updates the allocation's head, so it takes ``If-Match`` with the allocation's ETag (its
``version``, also shown on the pot): 428 without, 412 if it changed meanwhile.
Over-allocation is a 409 with ``remaining_pence``.
"""
from __future__ import annotations

from typing import Any

from flask import url_for

from marketplace.funding import service as funding
from marketplace.http.endpoint import PUBLIC, ApiBlueprint, Call, Created
from schemas.api.funding import (
    AllocationCreate,
    AllocationOut,
    ChangeCreate,
    PotCreate,
    PotOut,
    PotQuery,
)
from schemas.statuses import Role

bp = ApiBlueprint("funding", __name__)

FUNDS = (Role.FUNDER.value, Role.ICB_BUYER.value)
CREATES = {"status": 201, "idempotent": True, "etag": True}


@bp.endpoint("GET", "/funding", roles=PUBLIC, query=PotQuery, response=PotOut,
             paginated=True, summary="Funding pots (public), newest first")
def list_pots(call: Call) -> Any:
    return funding.list_query(call.uow, **{k: v for k, v in call.query.items()
                                           if k not in ("page", "per_page")})


@bp.endpoint("POST", "/funding", roles=FUNDS, body=PotCreate, response=PotOut,
             errors=(403,), summary="Create a funding pot of your organisation (an ICB "
             "buyer: of its ICB)", **CREATES)
def create_pot(call: Call) -> Created:
    pot = funding.create_pot(call.uow, **call.body)
    return Created(pot, url_for(".get_pot", pot_id=pot.id))


@bp.endpoint("GET", "/funding/<pot_id>", roles=PUBLIC, response=PotOut, etag=True,
             errors=(404,), summary="A funding pot, its allocations and their revisions")
def get_pot(call: Call, pot_id: str) -> Any:
    return funding.get_pot(call.uow, pot_id)


@bp.endpoint("POST", "/funding/<pot_id>/allocations", roles=FUNDS, body=AllocationCreate,
             response=AllocationOut, errors=(403, 404, 409),
             summary="Allocate money of your pot to an ICB or a trust (409: not enough left)",
             **CREATES)
def allocate(call: Call, pot_id: str) -> Created:
    allocation = funding.allocate(call.uow, pot_id, **call.body)
    return Created(allocation, url_for(".get_allocation", pot_id=pot_id,
                                       allocation_id=allocation.id))


@bp.endpoint("GET", "/funding/<pot_id>/allocations/<allocation_id>", roles=PUBLIC,
             response=AllocationOut, etag=True, errors=(404,),
             summary="An allocation and its revisions (its ETag for a change)")
def get_allocation(call: Call, pot_id: str, allocation_id: str) -> Any:
    return funding.get_allocation(call.uow, pot_id, allocation_id)


@bp.endpoint("POST", "/funding/<pot_id>/allocations/<allocation_id>/changes", roles=FUNDS,
             body=ChangeCreate, response=AllocationOut, if_match=True,
             errors=(403, 404, 409),
             summary="Increase, reduce, reprofile or withdraw an allocation: a new revision "
             "superseding the current one", **CREATES)
def change_allocation(call: Call, pot_id: str, allocation_id: str) -> Created:
    assert call.expected_version is not None
    allocation = funding.change(call.uow, pot_id, allocation_id,
                                expected_version=call.expected_version, **call.body)
    return Created(allocation, url_for(".get_allocation", pot_id=pot_id,
                                       allocation_id=allocation.id))
