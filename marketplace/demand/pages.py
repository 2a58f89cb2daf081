"""``/demand``: national open demand by category and pathway stage against pre-approved
supply, as ``GET /api/v1/demand/summary`` gives it (filter by ICB and posting period),
with a bar chart of open signals per category and the same figures in tables.

The view parses the query with the API's schema, calls the summary in a unit of work
acting as the signed-in person (or anonymously), and renders what the API's output
schema dumps, so the page and the API show the same facts.
"""
from __future__ import annotations

from flask import Blueprint, request

from marketplace.demand import summary as demand_summary
from marketplace.kernel.errors import InvalidInput
from marketplace.web.charts import bar_chart
from marketplace.web.formatting import formatting, label
from marketplace.web.forms import load_filters
from marketplace.web.pages import render, unit_of_work
from schemas.api.demand import DemandSummaryOut, SummaryQuery

bp = Blueprint("demand_pages", __name__)

FIELDS = ("icb", "posted_from", "posted_to")
LABELS = {"icb": "ICB", "posted_from": "Posted from", "posted_to": "Posted to",
          "_schema": "Filters"}



def _values() -> dict[str, str]:
    """The filters as entered (an ICB code in capitals, as ODS codes are written)."""
    values = {name: request.args.get(name, "").strip() for name in FIELDS}
    values["icb"] = values["icb"].upper()
    return values



@bp.get("/demand")
def national_demand() -> tuple[str, int]:
    values = _values()
    query, errors = load_filters(SummaryQuery, values)
    found = None
    if not errors:
        try:
            with unit_of_work() as uow:
                found = DemandSummaryOut().dump(demand_summary.summary(uow, **query))
        except InvalidInput as exc:  # an ICB code nobody has
            errors = exc.extra.get("errors") or {"_schema": [exc.detail]}
    chart = None
    if found and found["by_category"]:
        chart = bar_chart(
            [(label(row["category"]), row["open_signals"]) for row in found["by_category"]],
            chart_id="signals-by-category", title="Open demand signals by category",
            description="A bar for each category with open demand: the number of open "
                        "signals in it. The table below gives the same figures.")
    return render("demand/index.html", "National demand", status=422 if errors else 200,
                  found=found, errors=errors, values=values, chart=chart, label=label,
                  field_label=lambda name: LABELS.get(name, label(name)), **formatting())
