"""``ETag`` / ``If-Match``: optimistic concurrency on updates, from each row's version."""
from __future__ import annotations

import re

from flask import request

from marketplace.http.problems import Problem

_TAG = re.compile(r'^\s*(?:W/)?"(\d+)"\s*$')
_UNQUOTED = re.compile(r"^\s*\d+\s*$")


def etag_for(version: int) -> str:
    return f'"{version}"'


def required_if_match_version() -> int:
    """The version the client last saw; 428 without ``If-Match``, 412 for a foreign tag."""
    header = request.headers.get("If-Match")
    if header is None:
        raise Problem(428, "Precondition Required",
                      "Send If-Match with the ETag you last read, so no update is lost.")
    match = _TAG.match(header)
    if match is None:
        hint = ""
        if _UNQUOTED.match(header):
            hint = f' Quote the ETag as it was sent: If-Match: "{header.strip()}".'
        raise Problem(412, "Precondition failed",
                      f"If-Match does not name a current ETag.{hint}")
    return int(match.group(1))
