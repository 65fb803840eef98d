"""Run one surrogate job: fit the study's model and slice it along the requested parameters.

The job changes nothing in the study: its answer, `{param: slice}` (see
`ModelBasedStrategy.explain`), goes into the job's `result`. A study without a
model, or a parameter that cannot be shown, gets `{"error": reason}` for that
parameter.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from asktell.core.snapshots import StudySnapshot
from asktell.db import repository as repo
from asktell.db.models import JobRow, StudyRow
from asktell.db.queue import complete_job, owns_lease
from asktell.db.session import Database
from asktell.strategies._model_based import ModelBasedStrategy
from asktell.strategies.auto import Auto
from asktell.strategies.registry import get_strategy
from asktell.worker.runner import _KeepLease

log = logging.getLogger(__name__)

__all__ = ["explain_params", "model_strategy", "run_surrogate_job"]

SLICE_POINTS = 64


def run_surrogate_job(
    db: Database,
    *,
    job_id: int,
    study_id: int,
    worker_id: str,
    device: str,
    lease_seconds: float,
) -> None:
    """Compute the slices the job asks for and store them as its result."""
    with db.read() as session:
        job = session.get(JobRow, job_id)
        names = list(((job.params if job else None) or {}).get("params", []))
        study = session.get(StudyRow, study_id)
        strategy, options, state, snapshot = None, {}, None, None
        if study is not None:
            definition = repo.definition_of(study)
            strategy, options = definition.strategy.name, definition.strategy.options
            state, _ = repo.get_strategy_state(session, study_id=study_id, strategy=strategy)
            snapshot = repo.load_snapshot(session, study=study)
    started = time.perf_counter()
    if snapshot is None or strategy is None:
        result: dict[str, Any] = {name: {"error": "the study is gone"} for name in names}
    else:
        with _KeepLease(db, job_id, worker_id, lease_seconds):
            result = explain_params(strategy, options, state, snapshot, names, device)
    seconds = time.perf_counter() - started
    with db.write() as session:
        if owns_lease(session, job_id=job_id, worker_id=worker_id):
            complete_job(
                session, job_id=job_id, compute_seconds=seconds, strategy=strategy, result=result
            )


def model_strategy(
    name: str, options: dict, state: dict | None, device: str = "cpu"
) -> tuple[ModelBasedStrategy, dict | None]:
    """The model-based strategy behind `name` (for `auto`, its post-warm-up one) and its state.

    Raises:
        ValueError: the strategy has no surrogate model.
    """
    cls = get_strategy(name)
    if issubclass(cls, ModelBasedStrategy):
        return cls(options, device=device), state
    if issubclass(cls, Auto):
        return cls(options, device=device).surrogate(state)
    raise ValueError(f"strategy {name!r} has no surrogate model to show")


def explain_params(
    name: str,
    options: dict,
    state: dict | None,
    snapshot: StudySnapshot,
    params: list[str],
    device: str = "cpu",
) -> dict[str, dict]:
    """`{param: slice or {"error": reason}}` for each of `params`."""
    try:
        strategy, inner_state = model_strategy(name, options, state, device)
    except ValueError as exc:
        return {p: {"error": str(exc)} for p in params}
    out: dict[str, dict] = {}
    for param in params:
        try:
            out[param] = strategy.explain(snapshot, param, inner_state, points=SLICE_POINTS)
        except Exception as exc:
            log.warning("surrogate view of study %s failed", snapshot.study_id, exc_info=True)
            out[param] = {"error": f"{type(exc).__name__}: {exc}"}
    return out
