"""API bodies of the open contracting data (``/api/v1/ocds``): OCDS 1.1 packages.

The packages keep OCDS's own (camelCase) names; each release, record and compiled
release is the OCDS object itself, valid against the OCDS 1.1.5 schemas (see
``docs/ocds.md``), so these schemas document the envelope and pass those through.
"""
from __future__ import annotations

from marshmallow import Schema, fields

from schemas.fields import QueryInteger, doc

MAX_RELEASES_PER_PAGE = 100


def _camel(name: str, description: str, **kwargs: object) -> fields.Field:
    """A package field under its OCDS name (which is not a Python attribute name)."""
    return fields.String(attribute=name, data_key=name, **doc(description, **kwargs))


class ReleasesQuery(Schema):
    # QueryInteger, not Count: query strings carry numbers as text.
    after = QueryInteger(**doc("the position after which releases are wanted: 0 for the "
                               "first page; follow links.next for the next",
                               required=False, load_default=0))
    limit = QueryInteger(minimum=1, maximum=MAX_RELEASES_PER_PAGE,
                         **doc("releases per page", required=False,
                               load_default=MAX_RELEASES_PER_PAGE))


class Publisher(Schema):
    name = fields.String(**doc("who publishes the data"))


class PackageLinks(Schema):
    next = fields.String(**doc("the URL of the next page; absent on the last page",
                               required=False))


class _Package(Schema):
    uri = fields.String(**doc("the URL of this package"))
    version = fields.String(**doc("OCDS version: 1.1"))
    extensions = fields.List(fields.String(), **doc("URLs of the OCDS extensions used"))
    published_date = _camel("publishedDate", "the date of the latest release it holds")
    publisher = fields.Nested(Publisher, **doc("the publisher"))
    license = fields.String(**doc("the data's licence"))
    publication_policy = _camel("publicationPolicy", "the publication policy's URL",
                                allow_none=True)


class ReleasePackage(_Package):
    releases = fields.List(fields.Dict(), **doc("OCDS 1.1 releases in publication order; "
                                                "empty when none follow the cursor"))
    links = fields.Nested(PackageLinks, **doc("paging"))


class Record(Schema):
    ocid = fields.String(**doc("the contracting process's id"))
    releases = fields.List(fields.Dict(), **doc("every release of the process, in order"))
    compiled_release = fields.Dict(attribute="compiledRelease", data_key="compiledRelease",
                                   **doc("the releases merged (ocdsmerge): the latest state"))


class RecordPackage(_Package):
    records = fields.List(fields.Nested(Record), **doc("the one record asked for"))
