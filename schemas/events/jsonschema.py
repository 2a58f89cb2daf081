"""JSON Schema (draft 2020-12) export of every event type's ``data``.

Generated from the marshmallow schemas with apispec's converter (OpenAPI 3.1 schema
objects are JSON Schema 2020-12), so consumers without Python (a trust's integration
engine, a schema registry) validate against exactly the rules the registry enforces,
apart from cross-field checks (totals adding up, dates in order) that JSON Schema
cannot express. Output is deterministic: sorted keys, two-space indent, final newline.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from apispec.ext.marshmallow.openapi import OpenAPIConverter
from marshmallow import fields

from schemas.events.registry import REGISTRY, get

DIALECT = "https://json-schema.org/draft/2020-12/schema"
ID_BASE = "https://marketplace.nhs.uk/schemas/events/"


def _dict_keys(self: OpenAPIConverter, field: fields.Field, **kwargs: Any) -> dict[str, Any]:
    """Export a Dict field's key rules as ``propertyNames`` (apispec leaves them out)."""
    if isinstance(field, fields.Dict) and field.key_field is not None:
        names = self.field2property(field.key_field)
        names.pop("description", None)
        return {"propertyNames": names} if names else {}
    return {}


def _converter() -> OpenAPIConverter:
    # A resolver returning None inlines nested schemas: each file stands alone.
    converter = OpenAPIConverter(openapi_version="3.1.0", schema_name_resolver=lambda _: None,
                                 spec=None)  # type: ignore[arg-type]
    converter.add_attribute_function(_dict_keys)
    return converter


def json_schema(ce_type: str) -> dict[str, Any]:
    """The JSON Schema of the ``data`` of ``ce_type`` (KeyError if unknown)."""
    event_type = get(ce_type)
    body = _converter().schema2jsonschema(event_type.schema)
    return {
        "$schema": DIALECT,
        "$id": f"{ID_BASE}{ce_type}.json",
        "title": ce_type,
        "description": event_type.description,
        **body,
        "examples": [event_type.example],
        "x-topic": event_type.topic,
        "x-aggregate": event_type.aggregate,
        "x-key-field": event_type.key_field,
    }


def render(schema: dict[str, Any]) -> str:
    """The canonical text of a schema file."""
    return json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def write_json_schemas(out_dir: Path) -> list[Path]:
    """Write ``<ce_type>.json`` for every registered type into ``out_dir``; the paths."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for ce_type in sorted(REGISTRY):
        path = out_dir / f"{ce_type}.json"
        path.write_text(render(json_schema(ce_type)), encoding="utf-8")
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> None:
    """``python -m schemas.events.jsonschema --out DIR``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="output directory")
    args = parser.parse_args(argv)
    for path in write_json_schemas(args.out):
        print(path)


if __name__ == "__main__":
    main()
