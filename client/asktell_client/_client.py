"""`Client` and `AsyncClient`: the IO half of each request, with retries."""

from __future__ import annotations

import asyncio
import time
from types import TracebackType
from typing import Any

import httpx

from ._base import DEFAULT_TIMEOUT, BaseClient, parse
from ._retry import DEFAULT_MAX_RETRIES
from .resources import AsyncStudies, AsyncTrials, Studies, Trials
from .types import StrategyInfo

__all__ = ["AsyncClient", "Client"]

_sleep = time.sleep
_async_sleep = asyncio.sleep


class Client(BaseClient):
    """Synchronous client of the asktell API.

    Args:
        base_url: Server URL; defaults to ``$ASKTELL_BASE_URL`` or ``http://127.0.0.1:8420``.
        token: API token; defaults to ``$ASKTELL_TOKEN``. Sent as ``Authorization: Bearer``.
        timeout: Seconds (or an `httpx.Timeout`) per HTTP attempt.
        max_retries: Extra tries for connection errors and 408/429/502/503/504.
        http_client: An `httpx.Client` to send with (a mock transport, a `TestClient`).
            It is not closed by `close()`.

    Example::

        with Client() as client:
            study = client.studies.create("demo", space=[{"name": "x", "type": "float",
                                                          "low": 0, "high": 1}])
            for trial in study.ask(4):
                trial.tell(trial.params["x"] ** 2)
    """

    def __init__(
        self,
        base_url: str | None = None,
        token: str | None = None,
        timeout: float | httpx.Timeout | None = DEFAULT_TIMEOUT,
        max_retries: int = DEFAULT_MAX_RETRIES,
        http_client: httpx.Client | None = None,
    ):
        super().__init__(base_url=base_url, token=token, timeout=timeout, max_retries=max_retries)
        self._owns_http = http_client is None
        self._http = http_client if http_client is not None else httpx.Client()
        self.studies = Studies(self)
        self.trials = Trials(self)

    def strategies(self) -> list[StrategyInfo]:
        """The strategies the server offers."""
        response = self._request("GET", "/v1/strategies")
        return [StrategyInfo.model_validate(item) for item in response.json()]

    def _request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: dict[str, Any] | None = None,
        idempotency_key: str | None = None,
        timeout: float | None = None,
        max_retries: int | None = None,
    ) -> httpx.Response:
        """Send one logical request, retrying it with the same idempotency key."""
        request = self._build_request(
            self._http,
            method,
            path,
            json=json,
            params=params,
            idempotency_key=idempotency_key,
            timeout=timeout,
        )
        return self._send(request, max_retries)

    def _send(self, request: httpx.Request, max_retries: int | None = None) -> httpx.Response:
        """Send a built request, retrying it as it is (same idempotency key)."""
        attempt = 0
        while True:
            response: httpx.Response | None = None
            error: Exception | None = None
            try:
                response = self._http.send(request)
            except httpx.TransportError as exc:
                error = self._transport_error(exc, request)
            delay = self._retry_delay(attempt, response, error, max_retries)
            if delay is None:
                return self._finish(response, error)
            if response is not None:
                response.close()
            _sleep(delay)
            attempt += 1

    def _get(self, model: Any, path: str, **params: Any) -> Any:
        return parse(model, self._request("GET", path, params=params))

    def _wait(self, seconds: float) -> None:
        _sleep(seconds)

    def close(self) -> None:
        """Close the connection pool, unless it was passed in as `http_client`."""
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class AsyncClient(BaseClient):
    """Asynchronous client of the asktell API; the same arguments as `Client`,
    with an `httpx.AsyncClient` as `http_client`."""

    def __init__(
        self,
        base_url: str | None = None,
        token: str | None = None,
        timeout: float | httpx.Timeout | None = DEFAULT_TIMEOUT,
        max_retries: int = DEFAULT_MAX_RETRIES,
        http_client: httpx.AsyncClient | None = None,
    ):
        super().__init__(base_url=base_url, token=token, timeout=timeout, max_retries=max_retries)
        self._owns_http = http_client is None
        self._http = http_client if http_client is not None else httpx.AsyncClient()
        self.studies = AsyncStudies(self)
        self.trials = AsyncTrials(self)

    async def strategies(self) -> list[StrategyInfo]:
        """The strategies the server offers."""
        response = await self._request("GET", "/v1/strategies")
        return [StrategyInfo.model_validate(item) for item in response.json()]

    async def _request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: dict[str, Any] | None = None,
        idempotency_key: str | None = None,
        timeout: float | None = None,
        max_retries: int | None = None,
    ) -> httpx.Response:
        """Send one logical request, retrying it with the same idempotency key."""
        request = self._build_request(
            self._http,
            method,
            path,
            json=json,
            params=params,
            idempotency_key=idempotency_key,
            timeout=timeout,
        )
        return await self._send(request, max_retries)

    async def _send(self, request: httpx.Request, max_retries: int | None = None) -> httpx.Response:
        """Send a built request, retrying it as it is (same idempotency key)."""
        attempt = 0
        while True:
            response: httpx.Response | None = None
            error: Exception | None = None
            try:
                response = await self._http.send(request)
            except httpx.TransportError as exc:
                error = self._transport_error(exc, request)
            delay = self._retry_delay(attempt, response, error, max_retries)
            if delay is None:
                return self._finish(response, error)
            if response is not None:
                await response.aclose()
            await _async_sleep(delay)
            attempt += 1

    async def _get(self, model: Any, path: str, **params: Any) -> Any:
        return parse(model, await self._request("GET", path, params=params))

    async def _wait(self, seconds: float) -> None:
        await _async_sleep(seconds)

    async def close(self) -> None:
        """Close the connection pool, unless it was passed in as `http_client`."""
        if self._owns_http:
            await self._http.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()
