"""Error responses become typed exceptions carrying code, field and message."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

import asktell_client as at
from asktell_client._base import make_status_error
from asktell_client.errors import error_class


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, at.BadRequestError),
        (401, at.AuthenticationError),
        (403, at.PermissionDeniedError),
        (404, at.NotFoundError),
        (409, at.ConflictError),
        (422, at.UnprocessableEntityError),
        (429, at.RateLimitError),
        (500, at.InternalServerError),
        (503, at.InternalServerError),
        (418, at.APIStatusError),
    ],
)
def test_status_maps_to_class(status: int, cls: type[at.APIStatusError], server: Any) -> None:
    response = server.error(status, "some_code", "went wrong", "space.0.low")
    err = make_status_error(response)
    assert type(err) is cls
    assert error_class(status) is cls
    assert (err.status_code, err.code, err.field, err.message) == (
        status,
        "some_code",
        "space.0.low",
        "went wrong",
    )
    assert err.response is response
    assert err.body == {
        "error": {"code": "some_code", "message": "went wrong", "field": "space.0.low"}
    }


def test_hierarchy() -> None:
    assert issubclass(at.APITimeoutError, at.APIConnectionError)
    assert issubclass(at.APIConnectionError, at.AsktellError)
    assert issubclass(at.ConflictError, at.APIStatusError)
    assert issubclass(at.APIStatusError, at.AsktellError)
    assert not issubclass(at.APIStatusError, at.APIConnectionError)


def test_str_names_field_and_reason(server: Any) -> None:
    err = make_status_error(server.error(422, "invalid_input", "must be greater than low", "high"))
    assert str(err) == "422 invalid_input: must be greater than low (field: high)"
    assert err.reason == "must be greater than low"
    assert "field='high'" in repr(err)
    no_field = make_status_error(server.error(404, "not_found", "study 7 does not exist"))
    assert str(no_field) == "404 not_found: study 7 does not exist"


def test_non_json_body_falls_back_to_text() -> None:
    err = make_status_error(httpx.Response(502, text="bad gateway from proxy"))
    assert isinstance(err, at.InternalServerError)
    assert err.code == "http_502"
    assert err.message == "bad gateway from proxy"
    assert err.body is None


def test_fastapi_validation_body_names_the_field() -> None:
    body = {"detail": [{"loc": ["body", "settings", "seed"], "msg": "must be >= 0"}]}
    err = make_status_error(httpx.Response(422, json=body))
    assert (err.code, err.field, err.message) == ("invalid_input", "settings.seed", "must be >= 0")


def test_server_error_reaches_caller_with_field(client: at.Client, server: Any) -> None:
    client.studies.create("dup", server.SPACE)
    with pytest.raises(at.ConflictError) as info:
        client.studies.create("dup", server.SPACE)
    assert info.value.field == "name"
    assert info.value.code == "duplicate_name"
    assert "dup" in info.value.message


def test_connection_error_after_retries(client: at.Client, server: Any) -> None:
    for _ in range(client.max_retries + 1):
        server.fault("GET", "/v1/strategies", httpx.ConnectError("refused"))
    with pytest.raises(at.APIConnectionError) as info:
        client.strategies()
    assert not isinstance(info.value, at.APITimeoutError)
    assert isinstance(info.value.__cause__, httpx.ConnectError)


def test_timeout_is_api_timeout_error(client: at.Client, server: Any) -> None:
    for _ in range(client.max_retries + 1):
        server.fault("GET", "/v1/strategies", httpx.ReadTimeout("slow"))
    with pytest.raises(at.APITimeoutError):
        client.strategies()


def test_best_is_none_without_completed_trials_but_other_404_raise(
    client: at.Client, server: Any
) -> None:
    study = client.studies.create("s", server.SPACE)
    assert study.best() is None
    study.data = study.data.model_copy(update={"id": 999})
    with pytest.raises(at.NotFoundError):
        study.best()
