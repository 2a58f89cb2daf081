"""API bodies for the catalogue's categories (``/api/v1/categories``)."""
from __future__ import annotations

from marshmallow import Schema, fields

from schemas.fields import doc


class CategoryOut(Schema):
    category = fields.String(**doc("e.g. `cancer.triage`; most general first, dot-separated",
                                   required=False))
    listings = fields.Integer(**doc("published listings in it or in any category below it",
                                    required=False))
    parent = fields.String(allow_none=True, **doc("the category above, or null at the top",
                                                  required=False))


class CategoryList(Schema):
    items = fields.List(fields.Nested(CategoryOut))
