"""Retries: which answers are retried, how long the client waits, idempotency keys."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

import asktell_client as at
from asktell_client import _retry


def test_should_retry_statuses() -> None:
    for status in (408, 429, 502, 503, 504):
        assert _retry.should_retry(status, {})
    for status in (400, 401, 404, 409, 422, 500):
        assert not _retry.should_retry(status, {})


def test_should_retry_header_overrides() -> None:
    assert not _retry.should_retry(503, {"x-should-retry": "false"})
    assert _retry.should_retry(500, {"x-should-retry": "true"})


def test_backoff_grows_and_caps() -> None:
    for attempt, nominal in [(0, 0.5), (1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (10, 8.0)]:
        delay = _retry.backoff(attempt)
        assert 0.75 * nominal <= delay <= nominal


def test_backoff_honours_retry_after_up_to_60s() -> None:
    assert _retry.backoff(0, 7.0) == 7.0
    assert _retry.backoff(0, 0.0) == 0.0
    assert _retry.backoff(0, 600.0) <= 0.5


def test_retry_after_parsing() -> None:
    assert _retry.retry_after({"retry-after": "3"}) == 3.0
    assert _retry.retry_after({"retry-after-ms": "250"}) == 0.25
    assert _retry.retry_after({"retry-after": "soon"}) is None
    assert _retry.retry_after({}) is None
    http_date = "Wed, 21 Oct 2015 07:28:00 GMT"  # in the past
    assert _retry.retry_after({"retry-after": http_date}) == 0.0


def test_503_is_retried_with_backoff(client: at.Client, server: Any, sleeps: list[float]) -> None:
    busy = server.error(503, "busy", "x")
    server.fault("GET", "/v1/strategies", busy, server.error(503, "busy", "x"))
    assert client.strategies()[0].name == "random"
    assert len(server.calls_to("GET", "/v1/strategies")) == 3
    assert len(sleeps) == 2
    assert 0.375 <= sleeps[0] <= 0.5 and 0.75 <= sleeps[1] <= 1.0


def test_429_retry_after_is_honoured(client: at.Client, server: Any, sleeps: list[float]) -> None:
    limited = server.error(429, "rate_limited", "slow down", **{"Retry-After": "12"})
    server.fault("GET", "/v1/strategies", limited)
    client.strategies()
    assert sleeps == [12.0]


def test_connection_errors_are_retried(client: at.Client, server: Any, sleeps: list[float]) -> None:
    server.fault("GET", "/v1/strategies", httpx.ConnectError("refused"), httpx.ReadTimeout("t"))
    assert client.strategies()
    assert len(sleeps) == 2


def test_x_should_retry_false_is_respected(
    client: at.Client, server: Any, sleeps: list[float]
) -> None:
    server.fault(
        "GET", "/v1/strategies", server.error(503, "busy", "no", **{"x-should-retry": "false"})
    )
    with pytest.raises(at.InternalServerError):
        client.strategies()
    assert sleeps == []
    assert len(server.calls_to("GET", "/v1/strategies")) == 1


def test_409_and_500_are_not_retried(client: at.Client, server: Any, sleeps: list[float]) -> None:
    server.fault("GET", "/v1/strategies", server.error(500, "boom", "x"))
    with pytest.raises(at.InternalServerError):
        client.strategies()
    study = client.studies.create("s", server.SPACE)
    trial = study.ask()[0]
    trial.tell(0.5)
    with pytest.raises(at.ConflictError):
        trial.tell(0.7)
    assert sleeps == []
    assert len(server.calls_to("POST", r"/v1/trials/\d+:tell")) == 2


def test_gives_up_after_max_retries(server: Any, sleeps: list[float]) -> None:
    http = httpx.Client(transport=httpx.MockTransport(server))
    client = at.Client(base_url="http://asktell.test", max_retries=1, http_client=http)
    server.fault("GET", "/v1/strategies", *[server.error(503, "busy", "x")] * 3)
    with pytest.raises(at.InternalServerError):
        client.strategies()
    assert len(server.calls_to("GET", "/v1/strategies")) == 2


def test_idempotency_key_reused_across_retries(client: at.Client, server: Any) -> None:
    server.fault("POST", "/v1/studies", server.error(503, "busy", "x"), httpx.ConnectError("x"))
    client.studies.create("s", server.SPACE)
    client.studies.create("t", server.SPACE)
    keys = [c.headers["idempotency-key"] for c in server.calls_to("POST", "/v1/studies")]
    assert len(keys) == 4
    assert keys[0] == keys[1] == keys[2]
    assert keys[3] != keys[0]


def test_get_has_no_idempotency_key_and_sends_auth(client: at.Client, server: Any) -> None:
    client.strategies()
    call = server.calls_to("GET", "/v1/strategies")[0]
    assert "idempotency-key" not in call.headers
    assert call.headers["authorization"] == "Bearer tok"


def test_ask_request_id_equals_idempotency_key(client: at.Client, server: Any) -> None:
    study = client.studies.create("s", server.SPACE)
    study.ask()
    study.ask()
    asks = server.calls_to("POST", r"/v1/studies/\d+/trials:ask")
    assert [c.body["request_id"] for c in asks] == [c.headers["idempotency-key"] for c in asks]
    assert asks[0].body["request_id"] != asks[1].body["request_id"]


def test_retried_ask_creates_no_extra_trials(client: at.Client, server: Any) -> None:
    study = client.studies.create("s", server.SPACE)
    lost = server.error(502, "bad_gateway", "response lost")
    server.fault("POST", r"/v1/studies/\d+/trials:ask", lost, after=True)
    trials = study.ask(2)
    assert len(server.calls_to("POST", r"/v1/studies/\d+/trials:ask")) == 2
    assert len(server.trials) == 2
    assert sorted(t.id for t in trials) == sorted(server.trials)


def test_retried_tell_is_harmless(client: at.Client, server: Any) -> None:
    study = client.studies.create("s", server.SPACE)
    trial = study.ask()[0]
    server.fault("POST", r"/v1/trials/\d+:tell", httpx.ReadTimeout("lost"), after=True)
    told = trial.tell(0.25)
    assert told.state == at.TrialState.completed
    assert told.values == {"value": 0.25}
    assert len(server.calls_to("POST", r"/v1/trials/\d+:tell")) == 2


def test_env_configuration(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ASKTELL_BASE_URL", "http://example.test:9000/api")
    monkeypatch.setenv("ASKTELL_TOKEN", "secret")
    client = at.Client()
    assert str(client.base_url) == "http://example.test:9000/api/"
    assert client.headers["Authorization"] == "Bearer secret"
    request = client._build_request(client._http, "GET", "/v1/studies")
    assert str(request.url) == "http://example.test:9000/api/v1/studies"
    client.close()
    monkeypatch.delenv("ASKTELL_BASE_URL")
    monkeypatch.delenv("ASKTELL_TOKEN")
    default = at.Client()
    assert str(default.base_url) == "http://127.0.0.1:8420/"
    assert "Authorization" not in default.headers
    default.close()
