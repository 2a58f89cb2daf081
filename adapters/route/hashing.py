"""Canonical JSON, row digests and the state hash that trusts compare for conformance.

Salted with the route version, so registers derived by different rule sets never
look conforming; the register stores the digests and the acks carry the hash.
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from typing import Any

from adapters.route.rules import ROUTE_VERSION


def canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def row_digest(row: Mapping[str, Any]) -> str:
    return hashlib.sha256(canonical(dict(row)).encode()).hexdigest()


def state_hash(digests: Iterable[tuple[str, str, str]]) -> str:
    """SHA-256 over the sorted ``table<TAB>key<TAB>row digest`` lines of the given rows.

    Order-independent by construction (sorted), so trusts that applied the same
    events reach the same hash whatever order their partitions were consumed in.
    """
    h = hashlib.sha256(f"route {ROUTE_VERSION}\n".encode())
    for table, key, digest in sorted(digests):
        h.update(f"{table}\t{key}\t{digest}\n".encode())
    return h.hexdigest()
