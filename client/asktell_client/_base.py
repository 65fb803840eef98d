"""What the sync and async clients share: configuration, request building, retry
decisions and error mapping. Nothing here does IO."""

from __future__ import annotations

import logging
import os
import uuid
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel

from . import _retry
from .errors import APIConnectionError, APIStatusError, APITimeoutError, error_class
from .types import ErrorBody

__version__ = "0.1.0"

DEFAULT_BASE_URL = "http://127.0.0.1:8420"
DEFAULT_TIMEOUT = 30.0
IDEMPOTENCY_HEADER = "Idempotency-Key"

log = logging.getLogger("asktell_client")

M = TypeVar("M", bound=BaseModel)


def new_idempotency_key() -> str:
    """A fresh random key for one logical request."""
    return f"asktell-{uuid.uuid4().hex}"


class BaseClient:
    """Configuration and the IO-free half of every request."""

    def __init__(
        self,
        *,
        base_url: str | None,
        token: str | None,
        timeout: float | httpx.Timeout | None,
        max_retries: int,
    ):
        if max_retries < 0:
            raise ValueError("max_retries must be >= 0")
        base = base_url or os.environ.get("ASKTELL_BASE_URL") or DEFAULT_BASE_URL
        self.base_url = httpx.URL(base.rstrip("/") + "/")
        self.token = token if token is not None else os.environ.get("ASKTELL_TOKEN") or None
        self.timeout = timeout if isinstance(timeout, httpx.Timeout) else httpx.Timeout(timeout)
        self.max_retries = max_retries

    def __repr__(self) -> str:
        return f"{type(self).__name__}(base_url={str(self.base_url)!r})"

    @property
    def headers(self) -> dict[str, str]:
        """Headers sent with every request."""
        headers = {"Accept": "application/json", "User-Agent": f"asktell-client/{__version__}"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        return headers

    def _build_request(
        self,
        http: httpx.Client | httpx.AsyncClient,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: dict[str, Any] | None = None,
        idempotency_key: str | None = None,
        timeout: float | None = None,
    ) -> httpx.Request:
        """One `httpx.Request`; non-GET requests carry an idempotency key."""
        headers = self.headers
        if method.upper() != "GET":
            headers[IDEMPOTENCY_HEADER] = idempotency_key or new_idempotency_key()
        query = {k: v for k, v in (params or {}).items() if v is not None}
        return http.build_request(
            method,
            self.base_url.join(path.lstrip("/")),
            json=json,
            params=query or None,
            headers=headers,
            timeout=self.timeout if timeout is None else _at_least(self.timeout, timeout),
        )

    def _retry_delay(
        self,
        attempt: int,
        response: httpx.Response | None,
        error: Exception | None,
        max_retries: int | None = None,
    ) -> float | None:
        """Seconds to wait before another try, or None to stop here."""
        if attempt >= (self.max_retries if max_retries is None else max_retries):
            return None
        if response is None:
            delay = _retry.backoff(attempt)
            log.info("retrying after %s in %.2fs", error, delay)
            return delay
        if response.status_code < 400:
            return None
        if not _retry.should_retry(response.status_code, response.headers):
            return None
        delay = _retry.backoff(attempt, _retry.retry_after(response.headers))
        log.info("retrying after HTTP %s in %.2fs", response.status_code, delay)
        return delay

    @staticmethod
    def _transport_error(exc: httpx.TransportError, request: httpx.Request) -> APIConnectionError:
        """The client error for an httpx transport failure."""
        cls = APITimeoutError if isinstance(exc, httpx.TimeoutException) else APIConnectionError
        err = cls(f"{type(exc).__name__}: {exc}".rstrip(": "), request=request)
        err.__cause__ = exc
        return err

    @staticmethod
    def _finish(response: httpx.Response | None, error: Exception | None) -> httpx.Response:
        """Return a successful response; raise for an error or error status."""
        if error is not None:
            raise error
        assert response is not None
        if response.status_code >= 400:
            raise make_status_error(response)
        return response


def make_status_error(response: httpx.Response) -> APIStatusError:
    """The typed exception for an error response, with code, field and message."""
    status = response.status_code
    try:
        body: Any = response.json()
    except ValueError:
        body = None
    code, field, message = _describe(status, body)
    if not message:
        message = response.text[:500] or response.reason_phrase or "error"
    return error_class(status)(
        message, status_code=status, code=code, field=field, response=response, body=body
    )


def _describe(status: int, body: Any) -> tuple[str, str | None, str]:
    """(code, field, message) from an asktell error body or a plain FastAPI one."""
    if isinstance(body, dict) and "error" in body:
        try:
            detail = ErrorBody.model_validate(body).error
            return detail.code, detail.field, detail.message
        except ValueError:
            pass
    if isinstance(body, dict) and "detail" in body:
        detail = body["detail"]
        if isinstance(detail, list) and detail and isinstance(detail[0], dict):
            loc = [str(p) for p in detail[0].get("loc", []) if p not in ("body", "query", "path")]
            return "invalid_input", ".".join(loc) or None, str(detail[0].get("msg", ""))
        return f"http_{status}", None, str(detail)
    return f"http_{status}", None, ""


def parse(model: type[M], response: httpx.Response) -> M:
    """Decode a JSON response body into a wire model."""
    return model.model_validate_json(response.content)


def _at_least(timeout: httpx.Timeout, seconds: float) -> httpx.Timeout:
    """`timeout` with its read timeout raised to at least `seconds`."""
    read = timeout.read
    if read is not None and read < seconds:
        read = seconds
    return httpx.Timeout(connect=timeout.connect, read=read, write=timeout.write, pool=timeout.pool)
