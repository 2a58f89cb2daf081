"""Evaluation and award: the buyer scores, the service ranks, the buyer awards.

Each non-price criterion is scored 0-100 with a rationale; price by formula (lowest price
/ this price x weight). Totals are exact fractions, so a tie is a tie: it is reported,
never broken silently, and the buyer's award among tied responses is recorded as its
decision. The award goes to the most advantageous response (ranked first), under the
tender's row lock, so two award attempts at once give one award and one 409; it starts
the standstill and creates the pending contract in the same transaction.

After the award each responder reads its assessment summary (its own scores and the
winner's, with rationales); no losing price is ever shown to anyone but the buyer.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from sqlalchemy import select

from marketplace.contracts import service as contracts
from marketplace.kernel.errors import Conflict, Forbidden, InvalidInput, NotFound
from marketplace.kernel.unit_of_work import UnitOfWork
from marketplace.tenders import events, responses
from marketplace.tenders import service as tenders
from marketplace.tenders.lifecycle import MACHINE, TenderAction
from marketplace.tenders.models import Tender, TenderResponse, TenderScore
from marketplace.tenders.standstill import accelerated, standstill_ends
from schemas.statuses import CriterionKind, ResponseStatus, TenderStatus


def _points(value: Fraction | None) -> str | None:
    return None if value is None else f"{float(value):.2f}"


@dataclass
class Ranked:
    """One response's place in the evaluation."""

    opened: responses.Opened
    scores: list[dict[str, Any]]
    total: Fraction | None
    rank: int | None = None
    tied: bool = False

    def out(self, *, with_price: bool = True) -> dict[str, Any]:
        row = self.opened.response
        shown = {"response_id": row.id, "innovation_id": row.innovation_id,
                 "supplier": self.opened.supplier, "scored": self.total is not None,
                 "total": _points(self.total), "rank": self.rank, "tied": self.tied,
                 "scores": self.scores}
        if with_price:
            shown["price_pence"] = self.opened.price_pence
        return shown


@dataclass
class Ranking:
    tender: Tender
    ranked: list[Ranked] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return bool(self.ranked) and all(r.total is not None for r in self.ranked)

    @property
    def leaders(self) -> list[Ranked]:
        return [r for r in self.ranked if r.rank == 1]

    def out(self) -> dict[str, Any]:
        return {"tender_id": self.tender.id, "status": self.tender.status,
                "complete": self.complete, "tie_at_top": len(self.leaders) > 1,
                "ranking": [r.out() for r in self.ranked]}


def rank(uow: UnitOfWork, tender: Tender) -> Ranking:
    """Every submitted response scored and ranked (competition ranking: 1, 1, 3)."""
    rows = uow.session.scalars(select(TenderResponse).where(
        TenderResponse.tender_id == tender.id,
        TenderResponse.status == ResponseStatus.SUBMITTED
    ).order_by(TenderResponse.submitted_at, TenderResponse.id)).all()
    opened = [responses.open_response(uow, row) for row in rows]
    lowest = min((o.price_pence for o in opened), default=0)
    ranking = Ranking(tender)
    for one in opened:
        given = {s.criterion_id: s for s in one.response.scores}
        scores, total = [], Fraction(0)
        complete = True
        for criterion in tender.criteria:
            weight = Fraction(criterion.weight_percent, 100)
            if criterion.kind == CriterionKind.PRICE:
                share = Fraction(lowest, one.price_pence)
                score, rationale = share * 100, "lowest price / this price x weight"
            elif criterion.id in given:
                score, rationale = Fraction(given[criterion.id].score), given[
                    criterion.id].rationale
            else:
                score, rationale, complete = None, None, False
            weighted = None if score is None else score * weight
            if weighted is not None:
                total += weighted
            scores.append({"criterion_id": criterion.id, "title": criterion.title,
                           "kind": criterion.kind, "weight_percent": criterion.weight_percent,
                           "score": None if score is None else round(score),
                           "weighted": _points(weighted), "rationale": rationale})
        ranking.ranked.append(Ranked(one, scores, total if complete else None))
    scored = sorted((r for r in ranking.ranked if r.total is not None),
                    key=lambda r: r.total, reverse=True)  # type: ignore[arg-type,return-value]
    for entry in scored:
        same = [r for r in scored if r.total == entry.total]
        entry.rank, entry.tied = 1 + scored.index(same[0]), len(same) > 1
    ranking.ranked.sort(key=lambda r: (r.rank is None, r.rank or 0, r.opened.submitted_at,
                                       r.opened.response.id))
    return ranking


def _buyer_tender(uow: UnitOfWork, tender_id: str) -> Tender:
    return tenders.own_locked(uow, tender_id)


def score(uow: UnitOfWork, tender_id: str, *, response_id: str,
          scores: list[dict[str, Any]]) -> dict[str, Any]:
    """The buyer's scores of one response (again, to revise them, until the award)."""
    tender = _buyer_tender(uow, tender_id)
    MACHINE.target(tender.status, TenderAction.SCORE)
    response = uow.session.scalar(select(TenderResponse).where(
        TenderResponse.id == response_id, TenderResponse.tender_id == tender.id,
        TenderResponse.status == ResponseStatus.SUBMITTED))
    if response is None:
        raise NotFound(f"No response has the id {response_id!r}.")
    wanted = {c.id for c in tender.criteria if c.kind != CriterionKind.PRICE}
    given = [s["criterion_id"] for s in scores]
    if sorted(given) != sorted(wanted):
        raise InvalidInput("Score every non-price criterion once (price is scored by "
                           "formula).", {"scores": [f"one score for each of "
                                                    f"{', '.join(sorted(wanted))}"]})
    blank = sorted(str(n) for n, s in enumerate(scores) if not s["rationale"].strip())
    if blank:
        raise InvalidInput("Every score needs a rationale.",
                           {"scores": {n: {"rationale": ["blank"]} for n in blank}})
    before = {s.criterion_id: [s.score, s.rationale] for s in response.scores}
    now = uow.now()
    by_criterion = {s.criterion_id: s for s in response.scores}
    for given_score in scores:
        row = by_criterion.get(given_score["criterion_id"])
        if row is None:
            row = TenderScore(criterion_id=given_score["criterion_id"])
            response.scores.append(row)
        row.score, row.rationale = given_score["score"], given_score["rationale"].strip()
        row.scored_at, row.scored_by = now, uow.actor.id
    uow.session.flush()
    uow.audit("tender_response.scored", "tender_evaluation", response.id,
              before={"scores": before},
              after={"scores": {s.criterion_id: [s.score, s.rationale]
                                for s in response.scores}},
              subject_organisation_id=tender.icb_id)
    ranking = rank(uow, tender)
    if ranking.complete and tender.status == TenderStatus.CLOSED:
        previous = tenders.snapshot(tender)
        tender.status = MACHINE.target(tender.status, TenderAction.COMPLETE_EVALUATION)
        tender.evaluated_at = tender.status_changed_at = tender.updated_at = now
        uow.session.flush()
        uow.audit("tender.evaluated", "tender", tender.id, before=previous,
                  after=tenders.snapshot(tender), subject_organisation_id=tender.icb_id)
    return ranking.out()


def evaluation(uow: UnitOfWork, tender_id: str) -> dict[str, Any]:
    """The ranking so far (the buyer, once the responses are open)."""
    tender = tenders.get_visible(uow, tender_id)
    if not tenders.is_buyer_of(uow, tender):
        raise Forbidden("Only the buying ICB's buyers read the evaluation.")
    if tender.closed_at is None:
        raise Conflict(f"The tender is {tender.status}; responses open at the submission "
                       "deadline.", current_status=tender.status)
    return rank(uow, tender).out()


def award(uow: UnitOfWork, tender_id: str, *, response_id: str) -> Tender:
    """Award the tender to the most advantageous response: the standstill starts and the
    contract is created, pending signature."""
    tender = _buyer_tender(uow, tender_id)
    target = MACHINE.target(tender.status, TenderAction.AWARD)
    ranking = rank(uow, tender)
    chosen = next((r for r in ranking.ranked if r.opened.response.id == response_id), None)
    if chosen is None:
        raise NotFound(f"No response has the id {response_id!r}.")
    if chosen.rank != 1:
        leaders = ", ".join(r.opened.response.id for r in ranking.leaders)
        raise Conflict(f"Response {response_id} ranks {chosen.rank}; the award goes to the "
                       f"most advantageous response ({leaders}).")
    now = uow.now()
    winner = chosen.opened.response
    blockers, _, _ = responses.eligibility_blockers(uow, tender, winner.innovation, now)
    if blockers:
        raise Conflict(f"{winner.innovation.name} can no longer be awarded: "
                       f"{'; '.join(blockers)}.", reasons=blockers)
    before = tenders.snapshot(tender)
    tender.status, tender.award_id, tender.awarded_response_id = (
        target, str(uuid.uuid4()), winner.id)
    tender.awarded_at = tender.status_changed_at = tender.updated_at = now
    tender.standstill_ends_at = accelerated(now, standstill_ends(now), tender.accelerator)
    prices = {u["item_id"]: u["unit_price_pence"] for u in chosen.opened.unit_prices}
    contracts.create_for_award(
        uow, tender_id=tender.id, award_id=tender.award_id, framework_id=tender.framework_id,
        buyer_icb_id=tender.owner.id, supplier_organisation_id=winner.organisation_id,
        innovation_id=winner.innovation_id, value_pence=chosen.opened.price_pence,
        currency=tender.currency, term_months=tender.contract_term_months,
        lines=[{"item_id": line["item_id"], "description": line["description"],
                "unit_code": line["unit_code"], "unit_price_pence": prices[line["item_id"]],
                "vat_category": line["vat_category"], "vat_rate": line["vat_rate"],
                "max_quantity": line["quantity"]} for line in tender.lines],
        standstill_ends_at=tender.standstill_ends_at)
    uow.session.flush()
    uow.audit("tender.awarded", "tender", tender.id, before=before, after={
        **tenders.snapshot(tender), "tie_broken_by_buyer": len(ranking.leaders) > 1},
        subject_organisation_id=tender.icb_id)
    events.awarded(uow, tender, winner.organisation, winner.innovation_id,
                   chosen.opened.price_pence)
    return tenders.get_visible(uow, tender.id)


def _summary(entry: Ranked) -> dict[str, Any]:
    return {"response_id": entry.opened.response.id,
            "innovation_id": entry.opened.response.innovation_id,
            "total": _points(entry.total), "rank": entry.rank, "scores": entry.scores}


def outcome(uow: UnitOfWork, tender_id: str) -> dict[str, Any]:
    """The assessment summaries once awarded: a responder's own and the winner's; the
    buyer's, every response's. Nobody else has one (404, as for a missing tender)."""
    tender = tenders.get_visible(uow, tender_id)
    if tender.award_id is None:
        raise Conflict(f"The tender is {tender.status}; assessment summaries follow the "
                       "award.", current_status=tender.status)
    ranking = rank(uow, tender)
    winner = next(r for r in ranking.ranked
                  if r.opened.response.id == tender.awarded_response_id)
    buyer = tenders.is_buyer_of(uow, tender)
    own = [r for r in ranking.ranked
           if r.opened.response.organisation_id == uow.actor.organisation_id]
    if not buyer and not own:
        raise NotFound(f"No assessment summary of tender {tender_id!r} is yours.")
    return {"tender_id": tender.id, "award_id": tender.award_id,
            "awarded_at": tender.awarded_at, "standstill_ends_at": tender.standstill_ends_at,
            "award_value_pence": winner.opened.price_pence, "winner": _summary(winner),
            "own": [_summary(r) for r in own],
            "responses": [_summary(r) for r in ranking.ranked] if buyer else []}
