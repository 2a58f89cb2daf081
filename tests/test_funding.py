"""Funding pots, allocations, superseding changes, over-allocation under concurrency,
drawdown by orders, and the ``funding.*`` events (issue 16)."""
from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import date
from typing import Any

from flask.testing import FlaskClient
from sqlalchemy import select

from marketplace.funding import service as funding
from marketplace.funding.models import FundingAllocation, FundingPot
from marketplace.kernel.actor import Actor
from marketplace.kernel.audit_log import AuditEvent
from marketplace.kernel.errors import Conflict
from marketplace.organisations import service as organisations
from marketplace.organisations.models import Organisation
from schemas.events import registry
from tests.catalogue_support import ce
from tests.conftest import bearer
from tests.funding_support import (
    CHARITY,
    NHSE,
    PHARMA_CO,
    POT,
    FundingWorld,
    allocation_body,
    funding_world_fixture,  # noqa: F401  (fixture)
    pot_body,
)

API = "/api/v1"


def _problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    body: dict[str, Any] = response.get_json()
    return body


def _counts(fw: FundingWorld) -> tuple[int, int, int]:
    with fw.uow_factory() as uow:
        pots = len(uow.session.scalars(select(FundingPot)).all())
        allocations = uow.session.scalars(select(FundingAllocation)).all()
        return pots, len(allocations), sum(a.revision_number for a in allocations)


# --- pots -------------------------------------------------------------------------------
def test_pots_of_every_funder_type_are_public(fw: FundingWorld) -> None:
    made = {
        "nhs_england": fw.pot(),
        "sbri": fw.pot(funder_type="sbri", title="SBRI Healthcare competition 24"),
        "charity": fw.pot(f"funder:{CHARITY}", funder_type="charity",
                          title="Heart research innovation grants"),
        "other": fw.pot(funder_type="other", title="Regional accelerator"),
        "pharma_joint_working": fw.pot(f"funder:{PHARMA_CO}",
                                       funder_type="pharma_joint_working",
                                       title="Heart failure joint working"),
        "icb": fw.pot("buyer:QOP", funder_type="icb", title="QOP digital transformation",
                      amount_pence=5_000_000),
    }
    pharma = made["pharma_joint_working"]
    assert pharma["transfer_of_value_pence"] == 2_500_000
    assert pharma["agreement_summary"].startswith("Joint working")
    assert made["nhs_england"]["agreement_summary"] is None
    assert made["icb"]["owner"]["code"] == "QOP"
    # Anonymous reads: the list (filtered, paginated) and each pot.
    listed = fw.call("GET", "/funding?per_page=100", None, 200).get_json()
    assert listed["total"] == 6 and {p["funder_type"] for p in listed["items"]} == set(made)
    only = fw.call("GET", f"/funding?owner={CHARITY}", None, 200).get_json()
    assert [p["id"] for p in only["items"]] == [made["charity"]["id"]]
    sbri = fw.call("GET", "/funding?funder_type=sbri&financial_year=2026/27", None,
                   200).get_json()
    assert [p["id"] for p in sbri["items"]] == [made["sbri"]["id"]]
    assert fw.call("GET", "/funding?financial_year=2027/28", None, 200).get_json()[
        "total"] == 0
    shown = fw.get_pot(made["nhs_england"])
    assert (shown["amount_pence"], shown["allocated_pence"], shown["remaining_pence"],
            shown["allocations"]) == (POT, 0, POT, [])
    assert fw.call("GET", "/funding/00000000-0000-4000-8000-000000000000", None,
                   404).mimetype == "application/problem+json"
    # Creating is audited, with no event (trusts hear of allocations only).
    with fw.uow_factory() as uow:
        created = uow.session.scalars(select(AuditEvent).where(
            AuditEvent.action == "funding_pot.created")).all()
    assert len(created) == 6
    assert fw.funding_events() == []


def test_who_may_create_which_pot(fw: FundingWorld) -> None:
    body = pot_body()
    # A funder cannot create an ICB's pot; an ICB buyer only its own ICB's.
    assert "icb" in fw.pot(expect=403, funder_type="icb")["detail"]
    assert fw.pot("buyer:QOP", expect=403)["status"] == 403  # nhs_england money
    assert fw.pot("buyer:QOP", expect=403, funder_type="icb", owner_ods="QMJ")[
        "status"] == 403
    assert fw.pot(expect=403, owner_ods="X99")["status"] == 403
    for who in ("innovator", "trust:R0A", "assessor", "admin"):
        fw.call("POST", "/funding", who, 403, json=body)
    fw.call("POST", "/funding", None, 401, json=body)
    assert _counts(fw) == (0, 0, 0)
    # The owner's own code is accepted.
    assert fw.pot("buyer:QOP", funder_type="icb", owner_ods="QOP")["owner"]["code"] == "QOP"


def test_pot_validation_is_a_422_that_changes_nothing(fw: FundingWorld) -> None:
    def bad(**overrides: Any) -> dict[str, Any]:
        return fw.pot(expect=422, **overrides)["errors"]

    errors = fw.call("POST", "/funding", f"funder:{PHARMA_CO}", 422, json={
        **pot_body(), "funder_type": "pharma_joint_working"}).get_json()["errors"]
    assert set(errors) == {"agreement_summary", "transfer_of_value_pence"}
    assert set(bad(agreement_summary="A summary.")) == {"agreement_summary"}
    assert "financial_year" in bad(financial_year="2026/28")
    assert "financial_year" in bad(financial_year="26/27")
    assert "period_end" in bad(period_end="2026-03-31")
    assert "amount_pence" in bad(amount_pence=-1)
    assert "amount_pence" in bad(amount_pence=0)
    assert "amount_pence" in bad(amount_pence="100")
    assert "funder_type" in bad(funder_type="lottery")
    assert "recurrent" in bad(recurrent="yes")
    assert "title" in bad(title="   ")
    assert "period_start" in bad(period_start="2026-02-30")
    assert _counts(fw) == (0, 0, 0)


# --- allocations and changes ------------------------------------------------------------
def test_allocation_and_every_change_kind_make_a_visible_chain(fw: FundingWorld) -> None:
    pot = fw.pot()
    listing = fw.listing_id()
    a = fw.allocate(pot, innovation_id=listing)
    assert (a["status"], a["amount_pence"], a["revision_number"], a["recipient_ods"]) == (
        "active", 4_000_000, 1, "R0A")
    assert (a["period_start"], a["period_end"]) == ("2026-04-01", "2027-03-31")
    up = fw.change(a, kind="increase", amount_pence=4_800_000,
                   reason_code="additional_funding")
    down = fw.change(up, kind="reduce", amount_pence=3_000_000, reason_code="underspend")
    moved = fw.change(down, kind="reprofile", period_end="2027-06-30")
    gone = fw.change(moved, kind="withdraw", reason_code="scope_change",
                     reason="The service moves to the regional programme.")
    assert gone["status"] == "withdrawn" and gone["amount_pence"] == 0
    chain = gone["revisions"]
    assert [(r["number"], r["kind"], r["previous_amount_pence"], r["amount_pence"])
            for r in chain] == [(1, "allocate", None, 4_000_000),
                                (2, "increase", 4_000_000, 4_800_000),
                                (3, "reduce", 4_800_000, 3_000_000),
                                (4, "reprofile", 3_000_000, 3_000_000),
                                (5, "withdraw", 3_000_000, 0)]
    assert chain[0]["supersedes_id"] is None
    assert all(r["supersedes_id"] == chain[n]["id"] for n, r in enumerate(chain[1:]))
    assert chain[3]["period_end"] == "2027-06-30" and chain[3]["reason_code"] == "reprofiled"
    shown = fw.get_pot(pot)
    assert (shown["allocated_pence"], shown["remaining_pence"]) == (0, POT)
    assert shown["allocations"][0]["revisions"] == chain
    # A withdrawn allocation takes no further changes.
    problem = fw.change(gone, expect=409, kind="increase", amount_pence=1,
                        reason_code="correction")
    assert problem["current_status"] == "withdrawn"
    # The events, in order, keyed by the pot, each valid against its schema.
    sent = fw.funding_events()
    assert [e["ce_type"] for e in sent] == [ce("funding.allocated")] + [
        ce("funding.changed")] * 3 + [ce("funding.withdrawn")]
    assert {e["record_key"] for e in sent} == {pot["id"]}
    for event in sent:
        registry.get(event["ce_type"]).schema().load(event["data"])
    allocated = sent[0]["data"]
    with fw.uow_factory() as uow:
        funder_id = organisations.get_exact(uow, NHSE).public_id
    assert {k: allocated[k] for k in (
        "pot_id", "allocation_id", "recipient_ods", "funder_org_id", "funder_type",
        "programme", "amount_pence", "financial_year", "period_start", "period_end",
        "innovation_id", "contract_id")} == {
        "pot_id": pot["id"], "allocation_id": a["id"], "recipient_ods": "R0A",
        "funder_org_id": funder_id, "funder_type": "nhs_england",
        "programme": "MedTech Funding Mandate 2026/27", "amount_pence": 4_000_000,
        "financial_year": "2026/27", "period_start": "2026-04-01",
        "period_end": "2027-03-31", "innovation_id": listing, "contract_id": None}
    deltas = [(e["data"]["previous_amount_pence"], e["data"]["amount_pence"],
               e["data"]["delta_pence"], e["data"]["reason_code"]) for e in sent[1:4]]
    assert deltas == [(4_000_000, 4_800_000, 800_000, "additional_funding"),
                      (4_800_000, 3_000_000, -1_800_000, "underspend"),
                      (3_000_000, 3_000_000, 0, "reprofiled")]
    assert sent[3]["data"]["period_end"] == "2027-06-30"
    assert sent[4]["data"]["withdrawn_amount_pence"] == 3_000_000
    # Each state change is audited.
    with fw.uow_factory() as uow:
        actions = [row.action for row in uow.session.scalars(
            select(AuditEvent).where(AuditEvent.object_id == a["id"]).order_by(AuditEvent.id))]
    assert actions == ["funding.allocated", "funding.changed", "funding.changed",
                       "funding.changed", "funding.withdrawn"]


def test_only_the_owner_allocates_and_changes(fw: FundingWorld) -> None:
    pot = fw.pot()
    body = allocation_body()
    path = f"/funding/{pot['id']}/allocations"
    for who in (f"funder:{CHARITY}", "buyer:QOP"):
        assert "owner" in fw.call("POST", path, who, 403, json=body).get_json()["detail"]
    for who in ("innovator", "trust:R0A", "admin"):
        fw.call("POST", path, who, 403, json=body)
    fw.call("POST", path, None, 401, json=body)
    fw.call("POST", "/funding/00000000-0000-4000-8000-000000000000/allocations",
            f"funder:{NHSE}", 404, json=body)
    a = fw.allocate(pot)
    fw.change(a, f"funder:{CHARITY}", 403, kind="reduce", amount_pence=1,
              reason_code="underspend")
    # If-Match: required (428), and a stale one is a 412.
    fw.change(a, expect=428, if_match=None, kind="reduce", amount_pence=1,
              reason_code="underspend")
    fw.change(a, expect=412, if_match='"99"', kind="reduce", amount_pence=1,
              reason_code="underspend")
    assert _counts(fw) == (1, 1, 1)
    # An ICB's pot: its buyers allocate to the ICB or its trusts, nowhere else.
    icb_pot = fw.pot("buyer:QOP", funder_type="icb", title="QOP digital fund")
    fw.allocate(icb_pot, "buyer:QOP", recipient_ods="RBV")
    fw.allocate(icb_pot, "buyer:QOP", recipient_ods="QOP")
    for code in ("R1F", "QMJ"):
        errors = fw.allocate(icb_pot, "buyer:QOP", 422, recipient_ods=code)["errors"]
        assert "recipient_ods" in errors
    fw.allocate(icb_pot, "buyer:QMJ", 403)
    fw.allocate(icb_pot, f"funder:{NHSE}", 403)


def test_allocation_and_change_validation_change_nothing(fw: FundingWorld) -> None:
    pot = fw.pot()
    missing = "00000000-0000-4000-8000-000000000000"

    def bad(**overrides: Any) -> dict[str, Any]:
        return fw.allocate(pot, expect=422, **overrides)["errors"]

    assert "recipient_ods" in bad(recipient_ods="RZZ")
    assert "recipient_ods" in bad(recipient_ods="09876543")  # the innovator
    assert "amount_pence" in bad(amount_pence=0)
    assert "amount_pence" in bad(amount_pence=-5)
    assert "purpose" in bad(purpose=" ")
    assert set(bad(innovation_id=missing, contract_id=missing, signal_id=missing)) == {
        "innovation_id", "contract_id", "signal_id"}
    assert "innovation_id" in bad(innovation_id="not-a-uuid")
    a = fw.allocate(pot)

    def bad_change(**body: Any) -> dict[str, Any]:
        return fw.change(a, expect=422, **body)["errors"]

    assert "amount_pence" in bad_change(kind="increase", amount_pence=4_000_000,
                                        reason_code="additional_funding")
    assert "amount_pence" in bad_change(kind="reduce", amount_pence=4_000_001,
                                        reason_code="underspend")
    assert "amount_pence" in bad_change(kind="reduce", amount_pence=0,
                                        reason_code="underspend")
    assert "amount_pence" in bad_change(kind="reduce", amount_pence=-1,
                                        reason_code="underspend")
    assert "period_end" in bad_change(kind="reprofile")
    assert "period_end" in bad_change(kind="reprofile", period_end="2027-03-31")
    assert "amount_pence" in bad_change(kind="reprofile", amount_pence=1,
                                        period_end="2027-06-30")
    assert "reason_code" in bad_change(kind="reprofile", period_end="2027-06-30",
                                       reason_code="underspend")
    assert "reason_code" in bad_change(kind="increase", amount_pence=5_000_000)
    assert "reason_code" in bad_change(kind="increase", amount_pence=5_000_000,
                                       reason_code="reprofiled")
    assert "period_end" in bad_change(kind="increase", amount_pence=5_000_000,
                                      reason_code="correction", period_end="2026-01-01")
    assert "kind" in bad_change(kind="allocate")
    assert "amount_pence" in bad_change(kind="withdraw", amount_pence=5,
                                        reason_code="other")
    assert _counts(fw) == (1, 1, 1)
    assert len(fw.funding_events()) == 1
    assert fw.get_pot(pot)["allocated_pence"] == 4_000_000


def test_never_over_allocated(fw: FundingWorld) -> None:
    pot = fw.pot(amount_pence=10_000_000)
    a = fw.allocate(pot, amount_pence=7_000_000)
    over = fw.allocate(pot, expect=409, amount_pence=3_000_001)
    assert over["remaining_pence"] == 3_000_000 and "30,000.00" in over["detail"]
    assert fw.change(a, expect=409, kind="increase", amount_pence=10_000_001,
                     reason_code="additional_funding")["remaining_pence"] == 3_000_000
    a = fw.change(a, kind="increase", amount_pence=10_000_000,
                  reason_code="additional_funding")
    assert fw.allocate(pot, expect=409, amount_pence=1)["remaining_pence"] == 0
    fw.change(a, kind="reduce", amount_pence=9_000_000, reason_code="underspend")
    fw.allocate(pot, recipient_ods="RBV", amount_pence=1_000_000)
    shown = fw.get_pot(pot)
    assert (shown["allocated_pence"], shown["remaining_pence"]) == (10_000_000, 0)
    # Idempotency-Key: a retried allocation is answered again, not made twice.
    other = fw.pot(title="SBRI phase 2", funder_type="sbri")
    key = {"Idempotency-Key": "alloc-retry-1"}
    made = [fw.call("POST", f"/funding/{other['id']}/allocations", f"funder:{NHSE}", 201,
                    json=allocation_body(), headers=key).get_json() for _ in range(2)]
    assert made[0]["id"] == made[1]["id"]
    assert fw.get_pot(other)["allocated_pence"] == 4_000_000
    paths = fw.call("GET", "/openapi.json", None, 200).get_json()["paths"]
    assert "/api/v1/funding/{pot_id}/allocations/{allocation_id}/changes" in paths or any(
        "changes" in p and "funding" in p for p in paths)


def _at_once(*calls: Callable[[], int]) -> list[int]:
    barrier, results = threading.Barrier(len(calls)), [0] * len(calls)

    def run(n: int) -> None:
        barrier.wait(10)
        results[n] = calls[n]()

    threads = [threading.Thread(target=run, args=(n,)) for n in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return results


def test_concurrent_allocations_have_exactly_one_winner(fw: FundingWorld) -> None:
    pot = fw.pot(amount_pence=10_000_000)
    token = fw.token(f"funder:{NHSE}")
    app = fw.client.application
    path = f"{API}/funding/{pot['id']}/allocations"

    def post(code: str) -> Callable[[], int]:
        client: FlaskClient = app.test_client()

        def go() -> int:
            return client.post(path, headers=bearer(token), json=allocation_body(
                recipient_ods=code, amount_pence=6_000_000)).status_code
        return go

    statuses = _at_once(post("R0A"), post("RBV"), post("R1F"), post("QOP"))
    assert sorted(statuses) == [201, 409, 409, 409], statuses
    shown = fw.get_pot(pot)
    assert (shown["allocated_pence"], len(shown["allocations"])) == (6_000_000, 1)
    assert len(fw.funding_events()) == 1


# --- drawdown ---------------------------------------------------------------------------
def test_drawdown_by_orders(fw: FundingWorld) -> None:
    pot = fw.pot()
    a = fw.allocate(pot, amount_pence=1_000_000)
    to_icb = fw.allocate(pot, recipient_ods="QOP", amount_pence=1_000_000)
    actor = Actor(id="order", role="trust_system", label="test order")
    day = date(2026, 11, 21)
    with fw.uow_factory(actor) as uow:
        r0a, rbv = organisations.get_exact(uow, "R0A"), organisations.get_exact(uow, "RBV")
        assert funding.drawdown_blockers(uow, a["id"], trust=r0a, amount_pence=600_000,
                                         day=day) == []
        funding.draw_down(uow, a["id"], amount_pence=600_000, order_id="o-1")
        uow.commit()
    with fw.uow_factory(actor) as uow:
        r0a, rbv = organisations.get_exact(uow, "R0A"), organisations.get_exact(uow, "RBV")
        blockers = funding.drawdown_blockers(uow, a["id"], trust=rbv, amount_pence=500_000,
                                             day=date(2027, 4, 1))
        assert len(blockers) == 3, blockers
        assert any("R0A" in b for b in blockers) and any("2027-04-01" in b for b in blockers)
        assert any("£4,000.00 left" in b for b in blockers)
        assert funding.drawdown_blockers(uow, "nope", trust=r0a, amount_pence=1, day=day)
        assert "addressed to QOP" in funding.drawdown_blockers(
            uow, to_icb["id"], trust=r0a, amount_pence=1, day=day)[0]
        try:
            funding.draw_down(uow, a["id"], amount_pence=400_001, order_id="o-2")
            raise AssertionError("overdrawn")
        except Conflict as exc:
            assert exc.extra["remaining_pence"] == 400_000
    shown = fw.call("GET", f"/funding/{pot['id']}/allocations/{a['id']}", None,
                    200).get_json()
    assert (shown["drawn_pence"], shown["remaining_pence"]) == (600_000, 400_000)
    # A reduction below what is drawn is refused; a withdrawal keeps the drawn part.
    assert fw.change(shown, expect=409, kind="reduce", amount_pence=599_999,
                     reason_code="underspend")["drawn_pence"] == 600_000
    gone = fw.change(shown, kind="withdraw", reason_code="scope_change")
    assert (gone["amount_pence"], gone["drawn_pence"], gone["status"]) == (
        600_000, 600_000, "withdrawn")
    assert fw.get_pot(pot)["allocated_pence"] == 1_600_000
    assert fw.funding_events()[-1]["data"]["withdrawn_amount_pence"] == 1_000_000
    with fw.uow_factory(actor) as uow:
        r0a = organisations.get_exact(uow, "R0A")
        assert "the funding allocation is withdrawn" in funding.drawdown_blockers(
            uow, a["id"], trust=r0a, amount_pence=1, day=day)
        drawn = uow.session.scalars(select(AuditEvent).where(
            AuditEvent.action == "funding.drawn_down")).all()
        assert len(drawn) == 1


# --- demo -------------------------------------------------------------------------------
def test_demo_funding_is_safe_to_run_twice(uow_factory: Callable[..., Any]) -> None:
    from marketplace.demo import DEMO_ORGANISATIONS
    from marketplace.demo import funding as demo_funding

    with uow_factory() as uow:
        for code, kind, name, parent in (*DEMO_ORGANISATIONS, demo_funding.PHARMA_COMPANY):
            if code not in {o.code for o in uow.session.scalars(
                    select(Organisation))}:
                organisations.add(uow, code=code, kind=kind, name=name, parent=parent)
        first = list(demo_funding.seed(uow))
        uow.commit()
    assert sum(line.startswith("funding pot") for line in first) == 5
    assert sum(line.startswith("funding allocation") for line in first) == 7
    assert sum(line.startswith("funding change") for line in first) == 1
    with uow_factory() as uow:
        assert list(demo_funding.seed(uow)) == []
        allocation_id = demo_funding.demo_allocation_for(uow, "RAL")
        assert allocation_id is not None
        allocation = uow.session.get(FundingAllocation, allocation_id)
        assert allocation is not None
        assert (allocation.amount_pence >= 5_000_000, allocation.innovation_id,
                allocation.period_start, allocation.period_end) == (
            True, None, date(2026, 4, 1), date(2027, 3, 31))
        ral = organisations.get_exact(uow, "RAL")
        assert funding.drawdown_blockers(uow, allocation_id, trust=ral,
                                         amount_pence=2_400_000, day=date(2026, 11, 21)) == []
        assert demo_funding.demo_allocation_for(uow, "R0A") is None
        pots = uow.session.scalars(select(FundingPot)).all()
        assert {p.funder_type for p in pots} == {"nhs_england", "charity", "icb",
                                                 "pharma_joint_working"}
        assert all(p.allocated_pence <= p.amount_pence for p in pots)
