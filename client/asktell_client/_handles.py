"""Study and trial handles: a wire snapshot plus the calls that act on it."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any

import httpx

from . import _payloads as P
from . import arrays
from ._attachments import (
    AsyncStudyAttachments,
    AsyncTrialAttachments,
    StudyAttachments,
    TrialAttachments,
)
from ._base import log, new_idempotency_key, parse
from .errors import APITimeoutError, NotFoundError, OperationError
from .loop import AsyncHeartbeat, Heartbeat, optimize_async, optimize_sync
from .types import (
    ArrayValue,
    AskResponse,
    HeartbeatResponse,
    Operation,
    ParamValue,
    ReportResponse,
    Study,
    StudyExport,
    Trial,
    TrialList,
    TrialPage,
    TrialState,
)

if TYPE_CHECKING:
    from ._client import AsyncClient, Client

__all__ = ["AsyncStudyHandle", "AsyncTrialHandle", "StudyHandle", "TrialHandle"]

ASK_TIMEOUT_MARGIN = 10.0


class _StudyBase:
    """What both study handles know without IO."""

    data: Study

    @property
    def id(self) -> int:
        return self.data.id

    @property
    def name(self) -> str:
        return self.data.name

    @property
    def _trial_query(self) -> dict[str, str]:
        """Query of requests returning trials: float32 blocks for arrays when numpy is here."""
        return arrays.array_query(self.data)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(id={self.id}, name={self.name!r})"

    def _ask_request(
        self, n: int, evaluator: str | None, wait: float | None
    ) -> tuple[str, dict[str, Any], float]:
        """(idempotency key, body, read timeout) of an ask; the key doubles as request_id."""
        key = new_idempotency_key()
        body = P.ask_body(n, request_id=key, evaluator=evaluator, wait=wait)
        server_wait = self.data.settings.ask_timeout if wait is None else wait
        return key, body, server_wait + ASK_TIMEOUT_MARGIN

    @staticmethod
    def _ask_result(response: httpx.Response) -> Operation | list[Trial]:
        if response.status_code == 202:
            return parse(Operation, response)
        return parse(AskResponse, response).trials

    @staticmethod
    def _operation_result(op: Operation) -> list[Trial] | None:
        """The trials of a finished operation, or None while it runs."""
        if not op.done:
            return None
        if op.error:
            raise OperationError(f"ask operation {op.id} failed: {op.error}", operation=op)
        return op.trials


def _operation_deadline(timeout: float | None) -> float | None:
    return None if timeout is None else time.monotonic() + timeout


def _check_deadline(deadline: float | None, op: Operation) -> None:
    if deadline is not None and time.monotonic() >= deadline:
        raise APITimeoutError(f"ask operation {op.id} still not done")


def _no_completed_trials(err: NotFoundError) -> bool:
    return err.code == "no_completed_trials"


class _TrialBase:
    """What both trial handles know without IO."""

    data: Trial
    _study_data: Study
    _told: bool
    _should_stop: bool

    @property
    def id(self) -> int:
        return self.data.id

    @property
    def params(self) -> dict[str, ParamValue | ArrayValue]:
        """The trial's params as sent: array values as lists or float32 blocks (see `inputs`)."""
        return self.data.params

    @property
    def state(self) -> TrialState:
        return self.data.state

    @property
    def values(self) -> dict[str, float] | None:
        return self.data.values

    @property
    def should_stop(self) -> bool:
        """True once the server advised stopping (via report or heartbeat)."""
        return self._should_stop

    @property
    def heartbeat_interval(self) -> float:
        """Seconds between automatic heartbeats."""
        return P.heartbeat_interval(self._study_data.settings)

    def __repr__(self) -> str:
        name = type(self).__name__
        params = arrays.summarize(self.params)
        return f"{name}(id={self.id}, state={self.state.value}, params={params})"

    @property
    def _trial_query(self) -> dict[str, str]:
        return arrays.array_query(self._study_data)

    def array(self, name: str) -> Any:
        """Array parameter `name` as a float32 numpy array (needs ``asktell-client[numpy]``)."""
        return arrays.to_numpy(self.params[name])

    def inputs(self) -> dict[str, Any]:
        """The params as an evaluator takes them: array parameters as float32 numpy arrays
        (lists of floats where numpy is not installed), everything else as is."""
        return arrays.evaluator_params(self.params, self._study_data)

    def _after_tell(self, response: httpx.Response) -> Trial:
        self.data = parse(Trial, response)
        self._told = True
        return self.data

    def _after_heartbeat(self, response: httpx.Response) -> HeartbeatResponse:
        beat = parse(HeartbeatResponse, response)
        self._should_stop = self._should_stop or beat.should_stop
        return beat


# --------------------------------------------------------------------------- sync


class StudyHandle(_StudyBase, StudyAttachments):
    """A study on the server. `data` is the last fetched `Study`."""

    def __init__(self, client: Client, data: Study):
        self._client = client
        self.data = data

    def refresh(self) -> Study:
        """Fetch the study again."""
        self.data = self._client._get(Study, f"/v1/studies/{self.id}")
        return self.data

    def update(
        self,
        *,
        strategy: Any = None,
        state: str | None = None,
        settings: Mapping[str, Any] | Any = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> Study:
        """Change strategy, state, settings (a mapping is merged) or metadata."""
        body = P.study_update_body(
            self.data, strategy=strategy, state=state, settings=settings, metadata=metadata
        )
        response = self._client._request("PATCH", f"/v1/studies/{self.id}", json=body)
        self.data = parse(Study, response)
        return self.data

    def delete(self) -> None:
        """Delete the study and its trials."""
        self._client._request("DELETE", f"/v1/studies/{self.id}")

    def ask(
        self,
        n: int = 1,
        evaluator: str | None = None,
        *,
        wait: float | None = None,
        timeout: float | None = None,
    ) -> list[TrialHandle]:
        """Ask for `n` trials to evaluate.

        A retried ask reuses its request id, so it never creates extra trials. When the
        server answers 202, the operation is polled until done or `timeout` seconds pass.
        """
        key, body, read_timeout = self._ask_request(n, evaluator, wait)
        response = self._client._request(
            "POST",
            f"/v1/studies/{self.id}/trials:ask",
            json=body,
            params=self._trial_query,
            idempotency_key=key,
            timeout=read_timeout,
        )
        result = self._ask_result(response)
        trials = self._poll(result, timeout) if isinstance(result, Operation) else result
        return [TrialHandle(self._client, self.data, t) for t in trials]

    def _poll(self, op: Operation, timeout: float | None) -> list[Trial]:
        deadline = _operation_deadline(timeout)
        attempt = 0
        while (trials := self._operation_result(op)) is None:
            _check_deadline(deadline, op)
            self._client._wait(P.poll_delay(attempt))
            attempt += 1
            op = self._client._get(Operation, f"/v1/operations/{op.id}", **self._trial_query)
        return trials

    def trials(self, state: str | None = None, page_size: int | None = None) -> Iterator[Trial]:
        """Iterate over the study's trials, page by page."""
        cursor: str | None = None
        while True:
            page = self._client._get(
                TrialPage,
                f"/v1/studies/{self.id}/trials",
                state=state,
                limit=page_size,
                cursor=cursor,
                **self._trial_query,
            )
            yield from page.items
            if not page.next_cursor:
                return
            cursor = page.next_cursor

    def trial(self, trial_id: int) -> TrialHandle:
        """A handle on one of this study's trials, to tell or fail it."""
        data = self._client._get(Trial, f"/v1/trials/{trial_id}", **self._trial_query)
        return TrialHandle(self._client, self.data, data)

    def best(self) -> Trial | None:
        """The best completed trial, or None when there is none yet."""
        try:
            return self._client._get(
                Trial, f"/v1/studies/{self.id}/trials:best", **self._trial_query
            )
        except NotFoundError as err:
            if _no_completed_trials(err):
                return None
            raise

    def pareto(self) -> list[Trial]:
        """The non-dominated completed trials."""
        path = f"/v1/studies/{self.id}/trials:pareto"
        return self._client._get(TrialList, path, **self._trial_query).trials

    def export(self) -> StudyExport:
        """The whole study and its history as a portable document."""
        return self._client._get(StudyExport, f"/v1/studies/{self.id}:export")

    def add_trial(self, params: Mapping[str, Any], values: Any = None) -> TrialHandle:
        """Add a trial by hand: pending without values, completed with them."""
        body = P.trial_create_body(params, values, self.data)
        response = self._client._request(
            "POST", f"/v1/studies/{self.id}/trials", json=body, params=self._trial_query
        )
        return TrialHandle(self._client, self.data, parse(Trial, response))

    def optimize(
        self,
        fn: Callable[[dict[str, ParamValue]], Any],
        n_trials: int,
        n_jobs: int = 1,
        evaluator: str | None = None,
        show_progress: bool = True,
    ) -> list[Trial]:
        """Evaluate `fn(params) -> float | dict` on `n_trials` trials in `n_jobs` threads.

        Each thread loops ask → fn → tell with heartbeats while fn runs. An exception in
        fn fails that trial and the loop goes on. Returns the told trials.
        """
        return optimize_sync(self, fn, n_trials, n_jobs, evaluator, show_progress)


class TrialHandle(_TrialBase, TrialAttachments):
    """A trial to evaluate. Use ``with trial:`` to send heartbeats while it runs; an
    exception escaping the block fails the trial unless it was already told."""

    def __init__(self, client: Client, study: Study, data: Trial):
        self._client = client
        self._study_data = study
        self.data = data
        self._told = data.state in P.TERMINAL_STATES
        self._should_stop = False
        self._heartbeat: Heartbeat | None = None

    def refresh(self) -> Trial:
        """Fetch the trial again."""
        self.data = self._client._get(Trial, f"/v1/trials/{self.id}", **self._trial_query)
        return self.data

    def tell(self, values: Any) -> Trial:
        """Complete the trial: a {metric: value} dict, or a bare number for one objective."""
        return self._tell(P.tell_body(values, self._study_data))

    def fail(self, reason: str) -> Trial:
        """Mark the trial failed."""
        return self._tell(P.fail_body(reason))

    def stop(self, values: Any = None, reason: str | None = None) -> Trial:
        """Mark the trial stopped early, optionally with its last values."""
        return self._tell(P.stop_body(values, reason, self._study_data))

    def _tell(self, body: dict[str, Any]) -> Trial:
        response = self._client._request(
            "POST", f"/v1/trials/{self.id}:tell", json=body, params=self._trial_query
        )
        trial = self._after_tell(response)
        self._stop_heartbeat()
        return trial

    def report(self, step: int, values: Any) -> bool:
        """Store an intermediate value; returns True when the trial should stop early."""
        body = P.report_body(step, values, self._study_data)
        response = self._client._request("POST", f"/v1/trials/{self.id}:report", json=body)
        self._should_stop = parse(ReportResponse, response).should_stop
        return self._should_stop

    def heartbeat(self) -> HeartbeatResponse:
        """Tell the server the trial is still being evaluated."""
        return self._after_heartbeat(
            self._client._request("POST", f"/v1/trials/{self.id}:heartbeat")
        )

    def _background_beat(self) -> HeartbeatResponse:
        """A heartbeat without retries: the next one comes soon anyway."""
        return self._after_heartbeat(
            self._client._request("POST", f"/v1/trials/{self.id}:heartbeat", max_retries=0)
        )

    def _stop_heartbeat(self) -> None:
        if self._heartbeat is not None:
            self._heartbeat.stop()
            self._heartbeat = None

    def __enter__(self) -> TrialHandle:
        if self._heartbeat is None and not self._told:
            self._heartbeat = Heartbeat(self._background_beat, self.heartbeat_interval, self.id)
            self._heartbeat.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop_heartbeat()
        if exc is not None and not self._told:
            try:
                self.fail(P.failure_reason(exc))
            except Exception as err:
                log.warning("could not fail trial %s: %s", self.id, err)


# --------------------------------------------------------------------------- async


class AsyncStudyHandle(_StudyBase, AsyncStudyAttachments):
    """A study on the server, for `AsyncClient`; the same methods as `StudyHandle`."""

    def __init__(self, client: AsyncClient, data: Study):
        self._client = client
        self.data = data

    async def refresh(self) -> Study:
        """Fetch the study again."""
        self.data = await self._client._get(Study, f"/v1/studies/{self.id}")
        return self.data

    async def update(
        self,
        *,
        strategy: Any = None,
        state: str | None = None,
        settings: Mapping[str, Any] | Any = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> Study:
        """Change strategy, state, settings (a mapping is merged) or metadata."""
        body = P.study_update_body(
            self.data, strategy=strategy, state=state, settings=settings, metadata=metadata
        )
        response = await self._client._request("PATCH", f"/v1/studies/{self.id}", json=body)
        self.data = parse(Study, response)
        return self.data

    async def delete(self) -> None:
        """Delete the study and its trials."""
        await self._client._request("DELETE", f"/v1/studies/{self.id}")

    async def ask(
        self,
        n: int = 1,
        evaluator: str | None = None,
        *,
        wait: float | None = None,
        timeout: float | None = None,
    ) -> list[AsyncTrialHandle]:
        """Ask for `n` trials; see `StudyHandle.ask`."""
        key, body, read_timeout = self._ask_request(n, evaluator, wait)
        response = await self._client._request(
            "POST",
            f"/v1/studies/{self.id}/trials:ask",
            json=body,
            params=self._trial_query,
            idempotency_key=key,
            timeout=read_timeout,
        )
        result = self._ask_result(response)
        trials = await self._poll(result, timeout) if isinstance(result, Operation) else result
        return [AsyncTrialHandle(self._client, self.data, t) for t in trials]

    async def _poll(self, op: Operation, timeout: float | None) -> list[Trial]:
        deadline = _operation_deadline(timeout)
        attempt = 0
        while (trials := self._operation_result(op)) is None:
            _check_deadline(deadline, op)
            await self._client._wait(P.poll_delay(attempt))
            attempt += 1
            op = await self._client._get(Operation, f"/v1/operations/{op.id}", **self._trial_query)
        return trials

    async def trials(
        self, state: str | None = None, page_size: int | None = None
    ) -> AsyncIterator[Trial]:
        """Iterate over the study's trials, page by page."""
        cursor: str | None = None
        while True:
            page = await self._client._get(
                TrialPage,
                f"/v1/studies/{self.id}/trials",
                state=state,
                limit=page_size,
                cursor=cursor,
                **self._trial_query,
            )
            for item in page.items:
                yield item
            if not page.next_cursor:
                return
            cursor = page.next_cursor

    async def trial(self, trial_id: int) -> AsyncTrialHandle:
        """A handle on one of this study's trials, to tell or fail it."""
        data = await self._client._get(Trial, f"/v1/trials/{trial_id}", **self._trial_query)
        return AsyncTrialHandle(self._client, self.data, data)

    async def best(self) -> Trial | None:
        """The best completed trial, or None when there is none yet."""
        try:
            return await self._client._get(
                Trial, f"/v1/studies/{self.id}/trials:best", **self._trial_query
            )
        except NotFoundError as err:
            if _no_completed_trials(err):
                return None
            raise

    async def pareto(self) -> list[Trial]:
        """The non-dominated completed trials."""
        path = f"/v1/studies/{self.id}/trials:pareto"
        page = await self._client._get(TrialList, path, **self._trial_query)
        return page.trials

    async def export(self) -> StudyExport:
        """The whole study and its history as a portable document."""
        return await self._client._get(StudyExport, f"/v1/studies/{self.id}:export")

    async def add_trial(self, params: Mapping[str, Any], values: Any = None) -> AsyncTrialHandle:
        """Add a trial by hand: pending without values, completed with them."""
        body = P.trial_create_body(params, values, self.data)
        response = await self._client._request(
            "POST", f"/v1/studies/{self.id}/trials", json=body, params=self._trial_query
        )
        return AsyncTrialHandle(self._client, self.data, parse(Trial, response))

    async def optimize(
        self,
        fn: Callable[[dict[str, ParamValue]], Any | Awaitable[Any]],
        n_trials: int,
        n_jobs: int = 1,
        evaluator: str | None = None,
        show_progress: bool = True,
    ) -> list[Trial]:
        """Like `StudyHandle.optimize` with `n_jobs` tasks; a plain `fn` runs in a thread."""
        return await optimize_async(self, fn, n_trials, n_jobs, evaluator, show_progress)


class AsyncTrialHandle(_TrialBase, AsyncTrialAttachments):
    """A trial to evaluate; ``async with trial:`` sends heartbeats from a task."""

    def __init__(self, client: AsyncClient, study: Study, data: Trial):
        self._client = client
        self._study_data = study
        self.data = data
        self._told = data.state in P.TERMINAL_STATES
        self._should_stop = False
        self._heartbeat: AsyncHeartbeat | None = None

    async def refresh(self) -> Trial:
        """Fetch the trial again."""
        self.data = await self._client._get(Trial, f"/v1/trials/{self.id}", **self._trial_query)
        return self.data

    async def tell(self, values: Any) -> Trial:
        """Complete the trial: a {metric: value} dict, or a bare number for one objective."""
        return await self._tell(P.tell_body(values, self._study_data))

    async def fail(self, reason: str) -> Trial:
        """Mark the trial failed."""
        return await self._tell(P.fail_body(reason))

    async def stop(self, values: Any = None, reason: str | None = None) -> Trial:
        """Mark the trial stopped early, optionally with its last values."""
        return await self._tell(P.stop_body(values, reason, self._study_data))

    async def _tell(self, body: dict[str, Any]) -> Trial:
        response = await self._client._request(
            "POST", f"/v1/trials/{self.id}:tell", json=body, params=self._trial_query
        )
        trial = self._after_tell(response)
        await self._stop_heartbeat()
        return trial

    async def report(self, step: int, values: Any) -> bool:
        """Store an intermediate value; returns True when the trial should stop early."""
        body = P.report_body(step, values, self._study_data)
        response = await self._client._request("POST", f"/v1/trials/{self.id}:report", json=body)
        self._should_stop = parse(ReportResponse, response).should_stop
        return self._should_stop

    async def heartbeat(self) -> HeartbeatResponse:
        """Tell the server the trial is still being evaluated."""
        response = await self._client._request("POST", f"/v1/trials/{self.id}:heartbeat")
        return self._after_heartbeat(response)

    async def _background_beat(self) -> HeartbeatResponse:
        """A heartbeat without retries: the next one comes soon anyway."""
        response = await self._client._request(
            "POST", f"/v1/trials/{self.id}:heartbeat", max_retries=0
        )
        return self._after_heartbeat(response)

    async def _stop_heartbeat(self) -> None:
        if self._heartbeat is not None:
            beat, self._heartbeat = self._heartbeat, None
            await beat.stop()

    async def __aenter__(self) -> AsyncTrialHandle:
        if self._heartbeat is None and not self._told:
            beat = AsyncHeartbeat(self._background_beat, self.heartbeat_interval, self.id)
            self._heartbeat = beat
            beat.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._stop_heartbeat()
        if exc is not None and not self._told:
            try:
                await self.fail(P.failure_reason(exc))
            except Exception as err:
                log.warning("could not fail trial %s: %s", self.id, err)
