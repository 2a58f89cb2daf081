"""The event half of the contract: registry, schemas, JSON Schema export and docs."""
from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from marshmallow import Schema, ValidationError, fields

from schemas import fields as f
from schemas.events import REGISTRY, by_name, dump, get, key_for, topic_for, validate
from schemas.events import docs as events_docs
from schemas.events.common import compute_totals, vat_pence
from schemas.events.jsonschema import json_schema, write_json_schemas
from schemas.events.registry import parse_ce_type

# The oracle: the Events table of CONTRACT.md, copied by hand on purpose.
CONTRACT_EVENTS: dict[str, list[str]] = {
    "marketplace.innovations": [
        "innovation.listed", "innovation.updated", "innovation.withdrawn"],
    "marketplace.approvals": [
        "approval.granted", "approval.conditional", "approval.suspended",
        "approval.revoked", "approval.expired"],
    "marketplace.frameworks": [
        "framework.published", "framework.award.granted", "framework.award.withdrawn",
        "framework.expired"],
    "marketplace.demand": [
        "demand.signal.posted", "demand.signal.updated", "demand.signal.closed"],
    "marketplace.tenders": [
        "tender.published", "tender.closed", "tender.awarded", "tender.cancelled",
        "contract.signed", "contract.varied", "contract.terminated"],
    "marketplace.funding": ["funding.allocated", "funding.changed", "funding.withdrawn"],
    "marketplace.orders": [
        "order.placed", "order.rejected", "invoice.issued", "payment.received",
        "payment.failed"],
    "marketplace.acks": ["route.applied"],
}
ALL_NAMES = [(topic, name) for topic, names in CONTRACT_EVENTS.items() for name in names]
CE_TYPES = sorted(REGISTRY)


def _ce(name: str) -> str:
    return f"uk.nhs.marketplace.{name}.v1"


def _example(name: str) -> dict[str, Any]:
    return copy.deepcopy(get(_ce(name)).example)


# --- registry -----------------------------------------------------------------------
@pytest.mark.parametrize(("topic", "name"), ALL_NAMES)
def test_every_contract_event_is_registered_on_its_topic(topic: str, name: str) -> None:
    event_type = by_name(name)
    assert event_type.ce_type == _ce(name)
    assert event_type.topic == topic
    assert topic_for(_ce(name)) == topic
    assert event_type.description


def test_registry_has_nothing_beyond_the_contract() -> None:
    assert {et.name for et in REGISTRY.values()} == {name for _, name in ALL_NAMES}
    assert all(ce_type == et.ce_type for ce_type, et in REGISTRY.items())


@pytest.mark.parametrize(("prefix", "key"), [
    ("order.", "order_id"), ("invoice.", "order_id"), ("payment.", "order_id"),
    ("contract.", "contract_id"), ("tender.", "tender_id"), ("funding.", "pot_id"),
    ("approval.", "approval_id"), ("framework.", "framework_id"),
    ("innovation.", "innovation_id"), ("demand.", "signal_id"), ("route.", "trust_ods"),
])
def test_record_keys(prefix: str, key: str) -> None:
    types = [et for et in REGISTRY.values() if et.name.startswith(prefix)]
    assert types
    for et in types:
        assert et.key_field == key, et.ce_type
        assert key_for(et.ce_type, et.example) == et.example[key]
        assert et.aggregate_ref(et.example) == f"{et.aggregate}/{et.example[key]}"


def test_lookup_errors_are_clear() -> None:
    with pytest.raises(KeyError, match=r"known versions: uk\.nhs\.marketplace\.order\.placed\.v1"):
        get("uk.nhs.marketplace.order.placed.v9")
    with pytest.raises(KeyError, match="unknown event type"):
        get("com.example.thing.v1")
    with pytest.raises(KeyError, match="unknown event name"):
        by_name("order.teleported")
    assert parse_ce_type("uk.nhs.marketplace.framework.award.granted.v1") == (
        "framework.award.granted", 1)
    with pytest.raises(ValueError):
        parse_ce_type("uk.nhs.marketplace.order.placed")


# --- examples and schemas ------------------------------------------------------------
@pytest.mark.parametrize("ce_type", CE_TYPES)
def test_example_validates_and_is_in_wire_form(ce_type: str) -> None:
    example = get(ce_type).example
    validate(ce_type, example)
    # dump validates, fills optional fields with null and gives JSON types only.
    assert dump(ce_type, example) == example
    assert json.loads(json.dumps(example)) == example


@pytest.mark.parametrize("ce_type", CE_TYPES)
def test_unknown_and_missing_fields_are_rejected(ce_type: str) -> None:
    et = get(ce_type)
    with pytest.raises(ValidationError) as info:
        validate(ce_type, {**et.example, "surprise": 1})
    assert "surprise" in info.value.messages
    data = dict(et.example)
    del data[et.key_field]
    with pytest.raises(ValidationError):
        dump(ce_type, data)


def test_dump_accepts_python_values_and_fills_nulls() -> None:
    ce_type = _ce("order.rejected")
    loaded = validate(ce_type, _example("order.rejected"))
    assert loaded["rejected_at"].utcoffset() is not None
    assert dump(ce_type, loaded) == _example("order.rejected")
    listed = _example("innovation.withdrawn")
    del listed["reason"]
    assert dump(_ce("innovation.withdrawn"), listed)["reason"] is None


@pytest.mark.parametrize("bad", ["rj7", "RJ", "RJ70123", "QWE", "XRJ7", "RJ7\n", " RJ7", 7])
def test_bad_trust_ods_codes_are_rejected(bad: Any) -> None:
    with pytest.raises(ValidationError) as info:
        validate(_ce("order.placed"), {**_example("order.placed"), "trust_ods": bad})
    assert "trust_ods" in info.value.messages


@pytest.mark.parametrize("bad", ["qwe", "QW", "QWER", "RJ7", "Q-1"])
def test_bad_icb_ods_codes_are_rejected(bad: str) -> None:
    with pytest.raises(ValidationError) as info:
        validate(_ce("tender.published"), {**_example("tender.published"), "icb_ods": bad})
    assert "icb_ods" in info.value.messages


def test_ods_and_companies_house_validators() -> None:
    for code in ("RJ7", "TAJ", "R1K"):
        assert f.is_ods_code(code, "trust") and f.ods_code("trust")(code) == code
    assert f.is_ods_code("RJ701", "site") and not f.is_ods_code("RJ701", "trust")
    for code in ("QWE", "Q71"):
        assert f.is_ods_code(code, "icb") and not f.is_ods_code(code, "trust")
    assert f.is_ods_code("QWE") and f.is_ods_code("RJ7") and not f.is_ods_code("XYZ")
    check = f.companies_house_number()
    for number in ("12345678", "SC123456", "NI012345", "OC301234"):
        assert check(number) == number
    for number in ("1234567", "123456789", "sc123456", "S1234567", "AB12345C"):
        with pytest.raises(ValidationError):
            check(number)


@pytest.mark.parametrize("currency", ["EUR", "gbp", "", None, "GBPX"])
def test_only_gbp_is_accepted(currency: Any) -> None:
    for name in ("order.placed", "funding.allocated", "payment.received"):
        with pytest.raises(ValidationError) as info:
            validate(_ce(name), {**_example(name), "currency": currency})
        assert "currency" in info.value.messages


@pytest.mark.parametrize("amount", [-1, 1.5, "100", True, None])
def test_pence_are_non_negative_integers(amount: Any) -> None:
    with pytest.raises(ValidationError) as info:
        validate(_ce("funding.allocated"),
                 {**_example("funding.allocated"), "amount_pence": amount})
    assert "amount_pence" in info.value.messages


def test_times_need_an_offset() -> None:
    with pytest.raises(ValidationError) as info:
        validate(_ce("order.rejected"),
                 {**_example("order.rejected"), "rejected_at": "2026-08-05T09:12:00"})
    assert "rejected_at" in info.value.messages


def test_order_totals_must_match_lines() -> None:
    order = _example("order.placed")
    order["totals"]["gross_pence"] += 1
    with pytest.raises(ValidationError):
        validate(_ce("order.placed"), order)
    order = _example("order.placed")
    order["totals"]["vat_pence"] += 1
    order["totals"]["gross_pence"] += 1
    with pytest.raises(ValidationError, match="vat_pence"):
        validate(_ce("order.placed"), order)
    order = _example("order.placed")
    order["lines"][0]["net_pence"] += 1
    with pytest.raises(ValidationError):
        validate(_ce("order.placed"), order)
    order = _example("order.placed")
    order["lines"][0]["vat_category"] = "Z"
    with pytest.raises(ValidationError):
        validate(_ce("order.placed"), order)


def test_vat_is_rounded_half_up_per_group() -> None:
    assert vat_pence(1, "20") == 0 and vat_pence(3, "20") == 1 and vat_pence(25, "20") == 5
    assert vat_pence(10, "5") == 1  # 0.5 rounds up
    lines = [
        {"net_pence": 3, "vat_category": "S", "vat_rate": "20"},
        {"net_pence": 4, "vat_category": "S", "vat_rate": "20.00"},
        {"net_pence": 500, "vat_category": "Z", "vat_rate": "0"},
    ]
    totals = compute_totals(lines)
    assert totals["net_pence"] == 507 and totals["vat_pence"] == 1
    assert totals["gross_pence"] == 508 and len(totals["vat_breakdown"]) == 2


def test_invoice_needs_a_vat_number_to_charge_vat() -> None:
    invoice = _example("invoice.issued")
    invoice["supplier"]["vat_number"] = None
    with pytest.raises(ValidationError) as info:
        validate(_ce("invoice.issued"), invoice)
    assert "supplier" in info.value.messages


def test_approval_rules() -> None:
    granted = _example("approval.granted")
    granted["dtac"]["c3"] = "fail"
    with pytest.raises(ValidationError):
        validate(_ce("approval.granted"), granted)
    conditional = _example("approval.conditional")
    conditional["conditions"] = []
    with pytest.raises(ValidationError):
        validate(_ce("approval.conditional"), conditional)
    expired_early = _example("approval.granted")
    expired_early["expires_at"] = expired_early["decided_at"]
    with pytest.raises(ValidationError):
        validate(_ce("approval.granted"), expired_early)
    with pytest.raises(ValidationError):
        validate(_ce("approval.granted"), {**_example("approval.granted"), "status": "revoked"})


def test_route_applied_rules() -> None:
    ack = _example("route.applied")
    for bad in ({"approval": 1}, {"approval/x": 0}, {"Approval/x": 1}):
        with pytest.raises(ValidationError):
            validate(_ce("route.applied"), {**ack, "last_sequence": bad})
    with pytest.raises(ValidationError):
        validate(_ce("route.applied"), {**ack, "state_hash": ack["state_hash"].upper()})


def test_funding_delta_must_match() -> None:
    changed = _example("funding.changed")
    changed["delta_pence"] = -changed["delta_pence"]
    with pytest.raises(ValidationError):
        validate(_ce("funding.changed"), changed)


# --- what must never be in an event ------------------------------------------------------
def _walk(schema: Schema, prefix: str = "") -> Iterator[tuple[str, fields.Field]]:
    """Every field of ``schema``, nested schemas (in lists and dicts too) included."""
    for name, field in schema.fields.items():
        path = prefix + (field.data_key or name)
        yield path, field
        inner = field
        while isinstance(inner, (fields.List, fields.Dict)):
            inner = inner.inner if isinstance(inner, fields.List) else inner.value_field
        if isinstance(inner, fields.Nested):
            yield from _walk(inner.schema, path + ".")


PERSONAL_TOKENS = {
    "email", "mail", "phone", "telephone", "mobile", "fax", "surname", "forename",
    "firstname", "lastname", "nhs", "dob", "birth", "postcode", "address", "patient",
    "signature", "username", "initials",
}
PERSON_WORDS = {
    "person", "contact", "user", "first", "last", "given", "family", "middle", "full",
    "officer", "assessor", "signatory", "buyer", "clinician", "author", "submitter",
    "patient", "owner",
}


def _looks_personal(field_name: str) -> bool:
    tokens = re.split(r"[^a-z0-9]+", field_name.lower())
    if PERSONAL_TOKENS & set(tokens):
        return True
    # A bare "name" or "<person>_name" names a person; "product_name" / "legal_name" don't.
    for i, token in enumerate(tokens):
        if token == "name" and (i == 0 or tokens[i - 1] in PERSON_WORDS):
            return True
    return False


def test_personal_data_check_catches_the_usual_suspects() -> None:
    for name in ("email", "contact_email", "phone", "name", "contact_name", "nhs_number",
                 "first_name", "patient_id", "date_of_birth", "assessor_name"):
        assert _looks_personal(name), name
    for name in ("product_name", "legal_name", "trust_ods", "supplier"):
        assert not _looks_personal(name), name


@pytest.mark.parametrize("ce_type", CE_TYPES)
def test_no_personal_data_fields(ce_type: str) -> None:
    personal = [path for path, _ in _walk(get(ce_type).schema())
                if _looks_personal(path.rsplit(".", 1)[-1])]
    assert not personal, f"{ce_type} has fields that look like personal data: {personal}"


@pytest.mark.parametrize("ce_type", [_ce(n) for n in (
    "tender.published", "tender.closed", "tender.cancelled")])
def test_no_bid_content_before_award(ce_type: str) -> None:
    sealed = {"bid", "bids", "price", "prices", "score", "scores", "offer", "quote"}
    leaked = [path for path, _ in _walk(get(ce_type).schema())
              if sealed & set(re.split(r"[^a-z0-9]+", path.lower()))]
    assert not leaked, f"{ce_type} would reveal sealed responses: {leaked}"


@pytest.mark.parametrize("ce_type", CE_TYPES)
def test_money_always_has_a_currency(ce_type: str) -> None:
    schema = get(ce_type).schema()
    amounts = [path for path, field in _walk(schema) if path.endswith("_pence")]
    for path, field in _walk(schema):
        if path.endswith("_pence"):
            assert isinstance(field, fields.Integer) and field.strict, path
    if amounts:
        assert "currency" in schema.fields, f"{ce_type} has {amounts} but no currency"


# --- JSON Schema ------------------------------------------------------------------------
def _validator(ce_type: str) -> jsonschema.Draft202012Validator:
    schema = json_schema(ce_type)
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(
        schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)


def _first_pence_path(schema: dict[str, Any]) -> list[str] | None:
    for name, prop in schema.get("properties", {}).items():
        if name.endswith("_pence") and prop.get("minimum") == 0:
            return [name]
        if "properties" in prop:
            inner = _first_pence_path(prop)
            if inner:
                return [name, *inner]
    return None


@pytest.mark.parametrize("ce_type", CE_TYPES)
def test_json_schema_accepts_example_and_rejects_bad_instances(ce_type: str) -> None:
    schema = json_schema(ce_type)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"].endswith(f"/{ce_type}.json")
    assert schema["title"] == ce_type
    assert schema["additionalProperties"] is False
    validator = _validator(ce_type)
    example = get(ce_type).example
    validator.validate(example)

    for required in schema["required"]:
        missing = {k: v for k, v in example.items() if k != required}
        assert not validator.is_valid(missing), f"{ce_type} accepted no {required}"
    assert not validator.is_valid({**example, "surprise": 1})

    path = _first_pence_path(schema)
    if path:
        negative = copy.deepcopy(example)
        target = negative
        for step in path[:-1]:
            target = target[step]
        target[path[-1]] = -1
        assert not validator.is_valid(negative)
        with pytest.raises(ValidationError):
            validate(ce_type, negative)


def test_json_schema_types_formats_and_enums() -> None:
    props = json_schema(_ce("approval.granted"))["properties"]
    assert props["decided_at"] == {**props["decided_at"], "type": "string",
                                   "format": "date-time"}
    assert props["cyber_essentials_expires_on"]["format"] == "date"
    assert props["status"]["enum"] == ["approved"]
    assert props["nice_route"]["type"] == ["string", "null"]
    assert props["dtac"]["properties"]["c1"]["enum"] == [
        "pass", "conditional", "fail", "not_applicable"]
    ack = json_schema(_ce("route.applied"))["properties"]["last_sequence"]
    assert ack["additionalProperties"] == {"type": "integer", "minimum": 1}
    assert "pattern" in ack["propertyNames"]
    order = json_schema(_ce("order.placed"))["properties"]
    assert order["trust_ods"]["pattern"] == f.TRUST_ODS_PATTERN
    assert order["currency"]["enum"] == ["GBP"]


def test_write_json_schemas_is_complete_and_deterministic(tmp_path: Path) -> None:
    first = write_json_schemas(tmp_path / "a")
    second = write_json_schemas(tmp_path / "b")
    assert [p.name for p in first] == [f"{t}.json" for t in CE_TYPES]
    for a, b in zip(first, second, strict=True):
        text = a.read_text(encoding="utf-8")
        assert text == b.read_text(encoding="utf-8")
        assert text.endswith("}\n")
        loaded = json.loads(text)
        assert json.dumps(loaded, indent=2, sort_keys=True, ensure_ascii=False) + "\n" == text


# --- docs ---------------------------------------------------------------------------------
def test_docs_events_md_is_current() -> None:
    rendered = events_docs.render_markdown()
    assert rendered == events_docs.render_markdown()
    on_disk = events_docs.DOCS_PATH.read_text(encoding="utf-8") \
        if events_docs.DOCS_PATH.exists() else ""
    assert on_disk == rendered, (
        f"{events_docs.DOCS_PATH} is stale: run `{events_docs.REGENERATE}` and commit it")


def test_docs_cover_every_type_and_the_envelope() -> None:
    text = events_docs.render_markdown()
    for header in ("ce_specversion", "ce_id", "ce_source", "ce_type", "ce_time",
                   "ce_subject", "ce_sequence", "content-type"):
        assert f"`{header}`" in text
    for ce_type, et in REGISTRY.items():
        assert f"### `{ce_type}`" in text
        assert f"- key: `{et.key_field}`" in text
        assert json.dumps(et.example, indent=2, ensure_ascii=False) in text
