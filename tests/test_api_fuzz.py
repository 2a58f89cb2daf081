"""Schemathesis against our own OpenAPI document, anonymously and with each role's token.

Every operation gets generated requests (valid and invalid bodies, query strings, path
parameters and headers); each answer must be no 5xx, carry a status the document lists
for that operation, a content type it declares (problem+json for errors) and a body
matching the declared schema, and invalid input must be rejected. Not checked: that every
schema-valid request is accepted (a well-formed reference to nothing is a 404 or 422).
Bounded (``FUZZ_EXAMPLES`` per operation and caller, default 5, derandomised so CI is
repeatable); ``make fuzz`` runs it longer. It runs on SQLite and, with
``TEST_DATABASE_URL``, on PostgreSQL like every database test.
"""
from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import pytest
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, given
from hypothesis import settings as examples
from schemathesis.specs.openapi.checks import positive_data_acceptance

from marketplace.kernel.settings import Settings
from tests.conftest import bearer
from tests.stripe_support import (
    TEST_API_KEY,
    TEST_WEBHOOK_SECRET,
    localstripe_url,  # noqa: F401  (the session's localstripe)
)

ROLES = (None, "admin", "icb_buyer", "innovator", "assessor", "funder", "trust_system")
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "5"))


@pytest.fixture
def settings(settings: Settings, localstripe_url: str) -> Settings:  # noqa: F811
    """Payments on (the session's localstripe), so the payment endpoints and the webhook
    are fuzzed for what they do, not answered 503 for want of Stripe settings."""
    return settings.with_overrides(stripe_api_key=TEST_API_KEY, stripe_api_base=localstripe_url,
                                   stripe_webhook_secret=TEST_WEBHOOK_SECRET)


@pytest.mark.parametrize("role", ROLES, ids=lambda role: role or "anonymous")
def test_every_operation_answers_as_documented(app: Flask, make_token: Callable[..., str],
                                               role: str | None) -> None:
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    headers = bearer(make_token(role)) if role else {}
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 20
    for operation in operations:

        @given(case=operation.as_strategy())
        @examples(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck))
        def answers_as_documented(case: Any) -> None:
            sent = {k.lower() for k in (case.headers or {})}
            extra = {} if "authorization" in sent else headers
            case.call_and_validate(headers=extra, excluded_checks=[positive_data_acceptance])

        answers_as_documented()
