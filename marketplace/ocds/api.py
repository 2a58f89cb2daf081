"""``/api/v1/ocds``: open contracting release packages and record packages.

Public: everything here was published in a notice already. Releases are paged in
publication order by a cursor (``after``, a release position) that never skips one;
``links.next`` leads to the next page and is absent on the last.
"""
from __future__ import annotations

from typing import Any

from flask import url_for

from marketplace.http.endpoint import PUBLIC, ApiBlueprint, Call
from marketplace.ocds import service as ocds
from schemas.api.ocds import RecordPackage, ReleasePackage, ReleasesQuery

bp = ApiBlueprint("ocds", __name__)


@bp.endpoint("GET", "/ocds/releases", roles=PUBLIC, query=ReleasesQuery,
             response=ReleasePackage,
             summary="OCDS release packages of every tender, in publication order")
def list_releases(call: Call) -> Any:
    limit = call.query["limit"]
    return ocds.release_page(
        call.uow, call.query["after"], limit,
        lambda after: url_for(".list_releases", after=after, limit=limit, _external=True))


@bp.endpoint("GET", "/ocds/records/<ocid>", roles=PUBLIC, response=RecordPackage,
             summary="A tender's OCDS record: its releases and the compiled release")
def get_record(call: Call, ocid: str) -> Any:
    return ocds.record_package(call.uow, ocid,
                               url_for(".get_record", ocid=ocid, _external=True))
