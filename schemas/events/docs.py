"""Generate ``docs/events.md`` from the registry, so the documentation cannot drift.

Field tables come from the JSON Schema export (one source of types and descriptions),
topic notes from the topic modules' docstrings, event descriptions from the schemas'
docstrings. ``python -m schemas.events.docs`` rewrites the file; a test fails when the
committed file differs from :func:`render_markdown`.
"""
from __future__ import annotations

import inspect
import json
import sys
from pathlib import Path
from typing import Any

from schemas import fields
from schemas.events import common, orders, topics
from schemas.events.jsonschema import json_schema
from schemas.events.registry import REGISTRY, EventType, for_topic

DOCS_PATH = Path(__file__).resolve().parents[2] / "docs" / "events.md"
REGENERATE = "python -m schemas.events.docs"

#: Named formats: tables say the name, the legend gives the pattern.
FORMATS: dict[str, str] = {
    fields.ID_PATTERN: "id",
    fields.ICB_ODS_PATTERN: "ICB ODS code",
    fields.TRUST_ODS_PATTERN: "trust ODS code",
    fields.ODS_PATTERN: "ODS code",
    fields.COMPANIES_HOUSE_PATTERN: "Companies House number",
    fields.VAT_NUMBER_PATTERN: "VAT number",
    fields.PERCENT_PATTERN: "percent",
    fields.COUNTRY_PATTERN: "country code",
    fields.SHA256_HEX_PATTERN: "SHA-256 hex",
    common.UNIT_CODE_PATTERN: "unit code",
    common.AGGREGATE_REF_PATTERN: "aggregate ref",
    common.FINANCIAL_YEAR_PATTERN: "financial year",
    common.REFERENCE_PATTERN: "reference",
    common.PEPPOL_ID_PATTERN: "Peppol participant id",
    orders.DOCUMENT_NUMBER_PATTERN: "document number",
}

_INTRO = f"""\
# Events

<!-- Generated from schemas/events/ by `{REGENERATE}`. Do not edit by hand. -->

Every state change of the marketplace is published to Kafka as a
[CloudEvents 1.0](https://github.com/cloudevents/spec/blob/v1.0.2/cloudevents/spec.md)
event in the Kafka protocol binding's **binary mode**: the record value is the event's
`data` as JSON (UTF-8) and the attributes travel as headers. Trust adapters acknowledge
what they applied on `marketplace.acks`.

## Envelope

| Kafka header | value |
| --- | --- |
| `ce_specversion` | `1.0` |
| `ce_id` | unique id of the event (a UUID); with `ce_source`, the idempotency key |
| `ce_source` | URI reference of the producer: the marketplace, or a trust adapter |
| `ce_type` | `uk.nhs.marketplace.<name>.v<N>`, listed below |
| `ce_time` | when the change was committed, RFC 3339 with offset |
| `ce_subject` | the aggregate id, the same as the record key |
| `ce_sequence` | extension: position in the aggregate's stream (see below) |
| `content-type` | `application/json` |

The **record key** is the aggregate id: the value of the type's key field in `data`
(below). All events of one aggregate therefore land in one partition, in order.
`ce_sequence` numbers the events of one aggregate, `<aggregate>/<key>` (the form
`route.applied` reports), as a decimal string: it starts at `1` and goes up by 1 per
event, so a consumer detects a gap or a reordering and re-reads rather than skipping.

## Conventions

- Money is an integer number of pence (`*_pence`) with one `currency` per event;
  only `GBP` is accepted.
- Instants are RFC 3339 with an offset (`2026-04-01T09:00:00+01:00`); calendar days
  (due dates, certificate expiries) are `YYYY-MM-DD`. Deadlines are Europe/London.
- ODS codes are upper case: ICB `Q` + 2 characters, trust `R`/`T` + 2 to 4 characters.
  Innovators are identified by their Companies House number.
- `*_org_id` fields name an organisation by its stable marketplace id, a UUID (the
  `id` of `GET /api/v1/organisations/{{code}}`), the same in every environment and
  after a restore. Events published before December 2026 carried the database row
  number there; the field stays an opaque id within `v1`, so they still validate.
- Optional fields are always present in published events, as `null` when unset.
- Unknown fields are rejected. Within a version only optional fields may be added;
  any other change is a new version (`.v2`) published alongside the old one.
- Sealed tender responses, scores, bid prices before award and personal data (names,
  emails or phone numbers of people, NHS numbers) never appear in an event.
- Validate with `schemas.events.validate(ce_type, data)`; produce with
  `schemas.events.dump(ce_type, data)`. JSON Schema files (draft 2020-12) are written
  by `python -m schemas.events.jsonschema --out DIR`; cross-field rules (totals adding
  up, dates in order) are enforced by the marshmallow schemas only.

Named string formats used in the field tables:

| format | pattern |
| --- | --- |
"""


def _cell(text: str) -> str:
    """Text safe inside a Markdown table cell."""
    return " ".join(text.split()).replace("|", "\\|")


def _range(low: Any, high: Any, unit: str = "") -> str:
    if low is not None and high is not None:
        return f"{unit}{low}..{high}"
    return f"{unit}>= {low}" if low is not None else f"{unit}<= {high}"


def _scalar(prop: dict[str, Any]) -> str:
    """A short, readable type of a JSON Schema property."""
    types = prop.get("type", [])
    types = [types] if isinstance(types, str) else list(types)
    base = next((t for t in types if t != "null"), "any")
    details = []
    enum = [v for v in prop.get("enum", []) if v is not None]
    if len(enum) == 1:
        text = f"always `{enum[0]}`"
    elif enum:
        text = "one of " + ", ".join(f"`{v}`" for v in enum)
    elif base == "array":
        text = "array of " + _scalar(prop.get("items", {}))
        if "minItems" in prop or "maxItems" in prop:
            details.append(_range(prop.get("minItems"), prop.get("maxItems"), "items "))
    elif base == "object" and "properties" not in prop and "additionalProperties" in prop:
        keys = FORMATS.get(prop.get("propertyNames", {}).get("pattern", ""), "string")
        text = f"map of {keys} to {_scalar(prop['additionalProperties'])}"
    else:
        text = base
        if "pattern" in prop:
            text += f": {FORMATS.get(prop['pattern'], '`' + prop['pattern'] + '`')}"
        if "format" in prop:
            details.append(prop["format"])
        if "minLength" in prop or "maxLength" in prop:
            details.append(_range(prop.get("minLength"), prop.get("maxLength"), "length "))
        if "minimum" in prop or "maximum" in prop:
            details.append(_range(prop.get("minimum"), prop.get("maximum")))
    if details:
        text += f" ({', '.join(details)})"
    return text + (", or null" if "null" in types else "")


def _rows(schema: dict[str, Any], prefix: str = "") -> list[str]:
    """Table rows for every property of ``schema``, nested objects flattened."""
    rows = []
    required = set(schema.get("required", []))
    for name, prop in schema.get("properties", {}).items():
        path = prefix + name
        rows.append(f"| `{path}` | {_cell(_scalar(prop))} | "
                    f"{'yes' if name in required else 'no'} | "
                    f"{_cell(prop.get('description', ''))} |")
        if "properties" in prop:
            rows += _rows(prop, path + ".")
        elif "properties" in prop.get("items", {}):
            rows += _rows(prop["items"], path + "[].")
    return rows


def _event_section(event_type: EventType) -> str:
    schema = json_schema(event_type.ce_type)
    example = json.dumps(event_type.example, indent=2, ensure_ascii=False)
    return "\n".join([
        f"### `{event_type.ce_type}`",
        "",
        event_type.description,
        "",
        f"- name: `{event_type.name}`, version {event_type.version}",
        f"- topic: `{event_type.topic}`",
        f"- key: `{event_type.key_field}` (aggregate `{event_type.aggregate}`)",
        f"- JSON Schema: `{event_type.ce_type}.json`",
        "",
        "| field | type | required | description |",
        "| --- | --- | --- | --- |",
        *_rows(schema),
        "",
        "Example `data`:",
        "",
        "```json",
        example,
        "```",
        "",
    ])


def _topic_note(types: list[EventType]) -> str:
    """The docstring of the module defining a topic's schemas, minus its title line."""
    module = sys.modules[types[0].schema.__module__]
    lines = inspect.cleandoc(module.__doc__ or "").splitlines()[1:]
    return "\n".join(lines).strip()


def render_markdown() -> str:
    """The whole of ``docs/events.md``."""
    parts = [_INTRO.rstrip("\n")]
    parts += [f"| {name} | `{_cell(pattern)}` |" for pattern, name in FORMATS.items()]
    parts += ["", "## Types", "", "| type | topic | key |", "| --- | --- | --- |"]
    parts += [f"| `{et.ce_type}` | `{et.topic}` | `{et.key_field}` |"
              for et in REGISTRY.values()]
    parts.append("")
    for topic in topics.ALL_TOPICS:
        types = for_topic(topic)
        if not types:
            continue
        parts += [f"## Topic `{topic}`", "", _topic_note(types), "",
                  f"Dead letters go to `{topics.dlq_topic(topic)}`.", ""]
        parts += [_event_section(et) for et in types]
    return "\n".join(parts).rstrip("\n") + "\n"


def write(path: Path = DOCS_PATH) -> Path:
    """Write the rendered document to ``path`` (default ``docs/events.md``)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_markdown(), encoding="utf-8")
    return path


if __name__ == "__main__":
    print(write())
