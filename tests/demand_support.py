"""Shared helpers for the demand tests (no tests of its own): the catalogue's ``World``
with ICB buyers, a valid signal body from the contract's example, signal requests, and a
merger of two ICBs."""
from __future__ import annotations

from typing import Any

import pytest

from marketplace.kernel.unit_of_work import UnitOfWork
from marketplace.organisations import service as organisations
from schemas.events import registry
from tests.catalogue_support import World

SIGNAL_FIELDS = ("title", "need", "categories", "pathway_stages", "use_cases",
                 "min_esf_tier", "population_covered", "indicative_budget_pence")


def signal_body(**overrides: Any) -> dict[str, Any]:
    """A signal's API body from the contract's ``demand.signal.posted`` example (its own
    trusts are not the test ICBs', its date has passed on the test clock)."""
    example = registry.by_name("demand.signal.posted").example
    body = {name: example[name] for name in SIGNAL_FIELDS}
    body.update({"needed_by": "2027-03-31", **overrides})
    return body


class DemandWorld(World):
    """``World`` plus ICB buyers: ``who="buyer:QOP"`` acts for QOP (created if missing)."""

    def token(self, who: str) -> str:
        if who.startswith("buyer:") and who not in self._tokens:
            self._tokens[who] = self.make_token("icb_buyer", who.removeprefix("buyer:"))
        return super().token(who)

    def post_signal(self, who: str = "buyer:QOP", expect: int = 201,
                    **overrides: Any) -> Any:
        return self.call("POST", "/demand-signals", who, expect,
                         json=signal_body(**overrides)).get_json()

    def patch_signal(self, signal: dict[str, Any], who: str = "buyer:QOP",
                     expect: int = 200, **changes: Any) -> Any:
        return self.call("PATCH", f"/demand-signals/{signal['id']}", who, expect,
                         json=changes, headers={"If-Match": f'"{signal["version"]}"'}
                         ).get_json()

    def close_signal(self, signal: dict[str, Any], who: str = "buyer:QOP",
                     expect: int = 200, **body: Any) -> Any:
        body.setdefault("outcome", "withdrawn")
        return self.call("POST", f"/demand-signals/{signal['id']}/close", who, expect,
                         json=body).get_json()

    def signal(self, signal_id: str) -> Any:
        return self.call("GET", f"/demand-signals/{signal_id}", None, 200).get_json()

    def merge(self, code: str, successor: str) -> None:
        """Merge ICB ``code`` into ``successor`` (both created if missing)."""
        for icb in (code, successor):
            self.token(f"buyer:{icb}")
        with self.uow_factory() as uow:
            org = organisations.get_exact(uow, code)
            organisations.update(uow, code, expected_version=org.version,
                                 successor=successor)
            uow.commit()

    def add_trust(self, code: str, icb: str) -> None:
        self.token(f"buyer:{icb}")
        with self.uow_factory() as uow:
            organisations.add(uow, code=code, kind="trust", name=f"Trust {code}", parent=icb)
            uow.commit()

    def listing(self, listing_id: str) -> Any:
        return self.call("GET", f"/innovations/{listing_id}", None, 200).get_json()


def tallies(uow: UnitOfWork) -> dict[tuple[Any, ...], tuple[int, ...]]:
    """Every non-zero tally row, for comparing running sums with a rebuild."""
    from sqlalchemy import select

    from marketplace.demand.models import DemandTally
    from marketplace.demand.summary import MEASURES

    rows = uow.session.scalars(select(DemandTally)).all()
    return {(r.grain, r.period_start, r.icb_id, r.facet_kind, r.facet):
            tuple(getattr(r, m) for m in MEASURES) for r in rows
            if any(getattr(r, m) for m in MEASURES)}


@pytest.fixture(name="demand_world")
def demand_world_fixture(client: Any, clock: Any, uow_factory: Any,
                         make_token: Any) -> DemandWorld:
    return DemandWorld(client, clock, uow_factory, make_token)
