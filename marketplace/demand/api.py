"""``/api/v1/demand-signals``, ``/api/v1/demand/summary`` and a listing's demand
(``/api/v1/innovations/{id}/demand``): ICB needs, the supply that meets them, national
demand against pre-approved supply."""
from __future__ import annotations

import json
from typing import Any

from flask import Response, url_for

from marketplace.demand import matching, summary
from marketplace.demand import service as signals
from marketplace.http.endpoint import PUBLIC, ApiBlueprint, Call, Created
from marketplace.http.pagination import envelope
from schemas.api.demand import (
    DemandSignalClose,
    DemandSignalCreate,
    DemandSignalOut,
    DemandSignalQuery,
    DemandSignalUpdate,
    DemandSummaryOut,
    MatchOut,
    MatchQuery,
    SummaryQuery,
)

bp = ApiBlueprint("demand", __name__)

BUYER = ("icb_buyer",)
#: The read-heavy bodies' schemas, built once: a marshmallow schema holds no state between
#: dumps, and building one (its fields copied, its nested schemas made) costs more than
#: dumping a page with it.
_MATCHES = MatchOut(many=True)
_SUMMARY = DemandSummaryOut()


def _page_free(query: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in query.items() if k not in ("page", "per_page")}


@bp.endpoint("GET", "/demand-signals", roles=PUBLIC, query=DemandSignalQuery,
             response=DemandSignalOut, paginated=True,
             summary="Demand signals, newest first (by status, ICB, category, stage, period)")
def list_signals(call: Call) -> Any:
    return signals.list_query(call.uow, **_page_free(call.query))


@bp.endpoint("POST", "/demand-signals", roles=BUYER, body=DemandSignalCreate,
             response=DemandSignalOut, status=201, idempotent=True, etag=True, errors=(403,),
             summary="Post a demand signal for your own ICB")
def post_signal(call: Call) -> Created:
    signal = signals.post(call.uow, **call.body)
    return Created(signal, url_for(".get_signal", signal_id=signal.id))


@bp.endpoint("GET", "/demand-signals/<signal_id>", roles=PUBLIC, response=DemandSignalOut,
             etag=True, errors=(404,), summary="A demand signal")
def get_signal(call: Call, signal_id: str) -> Any:
    return signals.get(call.uow, signal_id)


@bp.endpoint("PATCH", "/demand-signals/<signal_id>", roles=BUYER, body=DemandSignalUpdate,
             response=DemandSignalOut, if_match=True, etag=True, errors=(403, 404, 409),
             summary="Edit an open signal of your ICB")
def update_signal(call: Call, signal_id: str) -> Any:
    assert call.expected_version is not None
    return signals.update(call.uow, signal_id, expected_version=call.expected_version,
                          **call.body)


@bp.endpoint("POST", "/demand-signals/<signal_id>/close", roles=BUYER, body=DemandSignalClose,
             response=DemandSignalOut, idempotent=True, etag=True, errors=(403, 404, 409),
             summary="Close a signal of your ICB with its outcome (final)")
def close_signal(call: Call, signal_id: str) -> Any:
    return signals.close(call.uow, signal_id, **call.body)


@bp.endpoint("GET", "/demand-signals/<signal_id>/matches", roles=PUBLIC, query=MatchQuery,
             response=MatchOut, paginated=True, errors=(404,),
             summary="Listings that meet the signal's needs and bar, ranked by fit, with "
                     "reasons; near_misses=true: those that fall short, with what they lack")
def signal_matches(call: Call, signal_id: str) -> Response:
    # Ranked in SQL, counted with the page (a window) rather than by a second query.
    ranking = matching.matches(call.uow, signal_id, near_misses=call.query["near_misses"])
    page, per_page = call.query["page"], call.query["per_page"]
    items, total = ranking.page(page, per_page)
    body = envelope(_MATCHES.dump(items), page, per_page, total)
    return Response(json.dumps(body), mimetype="application/json")


@bp.endpoint("GET", "/demand/summary", roles=PUBLIC, query=SummaryQuery,
             response=DemandSummaryOut,
             summary="National open demand by category and pathway stage against "
                     "pre-approved supply (filter by ICB and posting period)")
def demand_summary(call: Call) -> Response:
    # Serialised here, as the endpoint would, with the schema built once.
    body = _SUMMARY.dump(summary.summary(call.uow, **call.query))
    return Response(json.dumps(body), mimetype="application/json")


@bp.endpoint("GET", "/innovations/<innovation_id>/demand", roles=PUBLIC,
             response=DemandSignalOut, paginated=True, errors=(404,),
             summary="The open demand signals this listing matches, newest first")
def innovation_demand(call: Call, innovation_id: str) -> Any:
    return matching.demand_for(call.uow, innovation_id)
