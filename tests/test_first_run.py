"""A newcomer's first minutes: what the API and the commands say when something is missing."""
from __future__ import annotations

from collections.abc import Callable

from click.testing import CliRunner
from flask.testing import FlaskClient

from marketplace.entrypoints.cli import main
from tests.conftest import bearer


def test_readyz_says_when_no_broker_is_configured(client: FlaskClient) -> None:
    ready = client.get("/readyz")
    assert ready.status_code == 200
    body = ready.get_json()
    assert body["status"] == "ready (no broker configured)"
    assert body["checks"]["broker"]["configured"] is False
    assert "KAFKA_BOOTSTRAP_SERVERS" in body["checks"]["broker"]["detail"]


def test_relay_and_acks_without_a_broker_explain_how_to_get_one(database_url: str) -> None:
    for command in ("relay", "acks"):
        result = CliRunner().invoke(main, [command], env={"DATABASE_URL": database_url,
                                                          "SECRET_KEY": "x",
                                                          "KAFKA_BOOTSTRAP_SERVERS": ""})
        assert result.exit_code == 1, result.output
        assert "KAFKA_BOOTSTRAP_SERVERS=host:9092" in result.output
        assert "python -m events.broker" in result.output and "marketplace dev" in result.output


def test_a_mismatched_role_names_its_token_with_the_right_article(database_url: str) -> None:
    env = {"DATABASE_URL": database_url, "SECRET_KEY": "x"}
    assert CliRunner().invoke(main, ["org", "add", "--ods", "QOP", "--kind", "icb",
                                     "--name", "GM ICB"], env=env).exit_code == 0
    result = CliRunner().invoke(main, ["token", "create", "--ods", "QOP", "--role",
                                       "innovator", "--name", "x"], env=env)
    assert result.exit_code == 1
    assert "An innovator token acts for an organisation of kind innovator" in result.output


def test_an_unquoted_if_match_gets_a_hint_to_quote_the_etag(
        client: FlaskClient, make_token: Callable[..., str]) -> None:
    admin = bearer(make_token("admin"))
    created = client.post("/api/v1/organisations", headers=admin,
                          json={"code": "QE1", "kind": "icb", "name": "Lancashire ICB"})
    tag = created.headers["ETag"]
    unquoted = client.patch("/api/v1/organisations/QE1", json={"name": "L ICB"},
                            headers={**admin, "If-Match": tag.strip('"')})
    assert unquoted.status_code == 412
    assert f"If-Match: {tag}" in unquoted.get_json()["detail"]
    assert client.patch("/api/v1/organisations/QE1", json={"name": "L ICB"},
                        headers={**admin, "If-Match": tag}).status_code == 200


def test_anonymous_mine_is_401_and_another_role_403(client: FlaskClient,
                                                    make_token: Callable[..., str]) -> None:
    anonymous = client.get("/api/v1/innovations?mine=true")
    assert anonymous.status_code == 401 and "WWW-Authenticate" in anonymous.headers
    assert anonymous.content_type == "application/problem+json"
    buyer = client.get("/api/v1/innovations?mine=true",
                       headers=bearer(make_token("icb_buyer")))
    assert buyer.status_code == 403


def test_query_string_errors_say_so(client: FlaskClient) -> None:
    problem = client.get("/api/v1/organisations?kind=hospital").get_json()
    assert problem["status"] == 422
    assert problem["detail"] == "The query string is not valid."
    assert "kind" in problem["errors"]
    unknown = client.get("/api/v1/organisations?colour=blue").get_json()
    assert unknown["status"] == 422 and "colour" in unknown["errors"]
