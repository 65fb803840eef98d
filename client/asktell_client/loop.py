"""Evaluation machinery: background heartbeats and the optimize() loop built on ask/tell."""

from __future__ import annotations

import asyncio
import inspect
import sys
import threading
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, Protocol

from . import _payloads as P
from ._base import log
from .errors import ConflictError, NotFoundError
from .types import Direction, HeartbeatResponse, Study, Trial, TrialState

if TYPE_CHECKING:
    from ._handles import AsyncStudyHandle, AsyncTrialHandle, StudyHandle, TrialHandle

__all__ = ["AsyncHeartbeat", "Heartbeat", "optimize_async", "optimize_sync"]

MAX_EVALUATOR_LENGTH = 128
STOP_CODES = frozenset({"budget_exhausted", "study_done"})


# --------------------------------------------------------------------------- heartbeats


def _keep_beating(beat: HeartbeatResponse | Exception, trial_id: int) -> bool:
    """Whether heartbeats should go on after this answer (or error)."""
    if isinstance(beat, NotFoundError | ConflictError):
        log.warning("heartbeats of trial %s stopped: %s", trial_id, beat)
        return False
    if isinstance(beat, Exception):
        log.warning("heartbeat of trial %s failed: %s", trial_id, beat)
        return True
    return beat.state not in P.TERMINAL_STATES


class Heartbeat:
    """Calls `beat()` every `interval` seconds from a daemon thread until `stop()`."""

    def __init__(self, beat: Callable[[], HeartbeatResponse], interval: float, trial_id: int):
        self._beat = beat
        self.interval = interval
        self._trial_id = trial_id
        self._stopped = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name=f"asktell-heartbeat-{trial_id}", daemon=True
        )

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Stop and wait for a heartbeat in flight, so none is sent after this returns."""
        self._stopped.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join()

    def _run(self) -> None:
        while not self._stopped.wait(self.interval):
            try:
                answer: HeartbeatResponse | Exception = self._beat()
            except Exception as err:
                answer = err
            if not _keep_beating(answer, self._trial_id):
                return


class AsyncHeartbeat:
    """Awaits `beat()` every `interval` seconds from an asyncio task until `stop()`."""

    def __init__(
        self, beat: Callable[[], Awaitable[HeartbeatResponse]], interval: float, trial_id: int
    ):
        self._beat = beat
        self.interval = interval
        self._trial_id = trial_id
        self._stopped = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        """Stop and wait for a heartbeat in flight."""
        self._stopped.set()
        if self._task is not None and self._task is not asyncio.current_task():
            await self._task

    async def _run(self) -> None:
        while True:
            try:
                await asyncio.wait_for(self._stopped.wait(), self.interval)
                return
            except TimeoutError:
                pass
            try:
                answer: HeartbeatResponse | Exception = await self._beat()
            except Exception as err:
                answer = err
            if not _keep_beating(answer, self._trial_id):
                return


# --------------------------------------------------------------------------- progress


class _Progress(Protocol):
    def advance(self, trial: Trial) -> None: ...
    def close(self) -> None: ...


class _Tally:
    """Counts told trials and tracks the best value of a single-objective study."""

    def __init__(self, study: Study):
        self.done = 0
        self.failed = 0
        self.best: float | None = None
        objectives = study.objectives
        self._name = objectives[0].name if len(objectives) == 1 else None
        self._sign = -1.0 if objectives[0].direction == Direction.maximize else 1.0

    def add(self, trial: Trial) -> None:
        self.done += 1
        if trial.state == TrialState.failed:
            self.failed += 1
        value = (trial.values or {}).get(self._name or "")
        if (
            trial.state == TrialState.completed
            and value is not None
            and (self.best is None or self._sign * value < self._sign * self.best)
        ):
            self.best = value

    def summary(self) -> str:
        parts = [f"best {self._name}={self.best:.6g}"] if self.best is not None else []
        if self.failed:
            parts.append(f"{self.failed} failed")
        return ", ".join(parts)


class _NoProgress:
    def advance(self, trial: Trial) -> None:
        pass

    def close(self) -> None:
        pass


class _PlainProgress:
    """One line on stderr about every 5 % of the trials."""

    def __init__(self, study: Study, total: int):
        self._tally = _Tally(study)
        self._total = total
        self._every = max(1, total // 20)

    def advance(self, trial: Trial) -> None:
        self._tally.add(trial)
        done = self._tally.done
        if done % self._every == 0 or done == self._total:
            print(f"asktell: {done}/{self._total} trials {self._tally.summary()}", file=sys.stderr)

    def close(self) -> None:
        pass


class _RichProgress:
    def __init__(self, study: Study, total: int):
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        self._tally = _Tally(study)
        self._bar = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("{task.fields[summary]}"),
            transient=False,
        )
        self._task = self._bar.add_task(study.name, total=total, summary="")
        self._bar.start()

    def advance(self, trial: Trial) -> None:
        self._tally.add(trial)
        self._bar.update(self._task, advance=1, summary=self._tally.summary())

    def close(self) -> None:
        self._bar.stop()


def _make_progress(study: Study, total: int, show: bool) -> _Progress:
    if not show:
        return _NoProgress()
    try:
        return _RichProgress(study, total)
    except ImportError:
        return _PlainProgress(study, total)


# --------------------------------------------------------------------------- optimize


class _Budget:
    """Hands out the trials to run across workers and collects what they told."""

    def __init__(self, n_trials: int, progress: _Progress):
        self._lock = threading.Lock()
        self._left = n_trials
        self._progress = progress
        self.results: list[Trial] = []
        self.error: BaseException | None = None

    def claim(self) -> bool:
        with self._lock:
            if self.error is not None or self._left <= 0:
                return False
            self._left -= 1
            return True

    def finish(self) -> None:
        with self._lock:
            self._left = 0

    def record(self, trial: Trial) -> None:
        with self._lock:
            self.results.append(trial)
            self._progress.advance(trial)

    def abort(self, error: BaseException) -> None:
        with self._lock:
            if self.error is None:
                self.error = error

    def close(self) -> None:
        self._progress.close()


def _evaluators(evaluator: str | None, n_jobs: int) -> list[str]:
    """One evaluator name per worker, so parallel workers never share a trial."""
    base = evaluator or P.default_evaluator()
    if n_jobs == 1:
        return [base]
    suffixes = [f"/{i}" for i in range(n_jobs)]
    base = base[: MAX_EVALUATOR_LENGTH - max(len(s) for s in suffixes)]
    return [base + s for s in suffixes]


def _check_args(n_trials: int, n_jobs: int) -> None:
    if n_trials < 0:
        raise ValueError("n_trials must be >= 0")
    if n_jobs < 1:
        raise ValueError("n_jobs must be >= 1")


def _log_failure(trial_id: int, reason: str) -> None:
    log.warning("trial %s failed: %s", trial_id, reason)


def _evaluate(trial: TrialHandle, fn: Callable[[dict[str, Any]], Any], study: Study) -> Trial:
    with trial:
        try:
            values = P.normalize_values(fn(trial.inputs()), study.objectives)
        except Exception as exc:
            reason = P.failure_reason(exc)
            _log_failure(trial.id, reason)
            return trial.fail(reason)
        return trial.tell(values)


def _out_of_trials(err: ConflictError) -> bool:
    """Whether an ask was refused because the study will hand out no more trials."""
    if err.code in STOP_CODES:
        log.info("optimize stops: %s", err.message)
        return True
    return False


def _work(study: StudyHandle, fn: Callable[..., Any], budget: _Budget, evaluator: str) -> None:
    while budget.claim():
        try:
            trials = study.ask(1, evaluator=evaluator)
        except ConflictError as err:
            if not _out_of_trials(err):
                raise
            trials = []
        if not trials:
            budget.finish()
            return
        for trial in trials:
            budget.record(_evaluate(trial, fn, study.data))


def optimize_sync(
    study: StudyHandle,
    fn: Callable[[dict[str, Any]], Any],
    n_trials: int,
    n_jobs: int,
    evaluator: str | None,
    show_progress: bool,
) -> list[Trial]:
    """The body of `StudyHandle.optimize`."""
    _check_args(n_trials, n_jobs)
    names = _evaluators(evaluator, n_jobs)
    budget = _Budget(n_trials, _make_progress(study.data, n_trials, show_progress))

    def guarded(name: str) -> None:
        try:
            _work(study, fn, budget, name)
        except BaseException as err:
            budget.abort(err)

    try:
        if n_jobs == 1:
            _work(study, fn, budget, names[0])
        else:
            with ThreadPoolExecutor(n_jobs, thread_name_prefix="asktell-optimize") as pool:
                for future in [pool.submit(guarded, name) for name in names]:
                    future.result()
    except BaseException as err:
        budget.abort(err)
        raise
    finally:
        budget.close()
    if budget.error is not None:
        raise budget.error
    return budget.results


async def _call(fn: Callable[[dict[str, Any]], Any], params: dict[str, Any]) -> Any:
    if inspect.iscoroutinefunction(fn):
        return await fn(params)
    result = await asyncio.to_thread(fn, params)
    return await result if inspect.isawaitable(result) else result


async def _aevaluate(
    trial: AsyncTrialHandle, fn: Callable[[dict[str, Any]], Any], study: Study
) -> Trial:
    async with trial:
        try:
            values = P.normalize_values(await _call(fn, trial.inputs()), study.objectives)
        except Exception as exc:
            reason = P.failure_reason(exc)
            _log_failure(trial.id, reason)
            return await trial.fail(reason)
        return await trial.tell(values)


async def _awork(
    study: AsyncStudyHandle, fn: Callable[..., Any], budget: _Budget, evaluator: str
) -> None:
    while budget.claim():
        try:
            trials = await study.ask(1, evaluator=evaluator)
        except ConflictError as err:
            if not _out_of_trials(err):
                raise
            trials = []
        if not trials:
            budget.finish()
            return
        for trial in trials:
            budget.record(await _aevaluate(trial, fn, study.data))


async def optimize_async(
    study: AsyncStudyHandle,
    fn: Callable[[dict[str, Any]], Any],
    n_trials: int,
    n_jobs: int,
    evaluator: str | None,
    show_progress: bool,
) -> list[Trial]:
    """The body of `AsyncStudyHandle.optimize`."""
    _check_args(n_trials, n_jobs)
    budget = _Budget(n_trials, _make_progress(study.data, n_trials, show_progress))

    async def guarded(name: str) -> None:
        try:
            await _awork(study, fn, budget, name)
        except Exception as err:
            budget.abort(err)

    try:
        await asyncio.gather(*(guarded(name) for name in _evaluators(evaluator, n_jobs)))
    finally:
        budget.close()
    if budget.error is not None:
        raise budget.error
    return budget.results
