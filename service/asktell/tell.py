"""Tell, report and heartbeat: the checks and writes that finish or feed a trial.

Tell is idempotent: telling a finished trial the same outcome again returns
it unchanged; a different outcome is a conflict. A stale trial still accepts
its first tell, since its evaluator may come back.
"""

from __future__ import annotations

import statistics

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from asktell import metrics
from asktell.core.errors import Conflict
from asktell.core.states import TELLABLE, TrialState
from asktell.core.study import StudyDefinition
from asktell.db import repository as repo
from asktell.db.models import IntermediateRow, TrialRow, utcnow
from asktell.db.queue import enqueue_job
from asktell_client.types import ReportRequest, TellRequest

__all__ = ["heartbeat_trial", "report_trial", "tell_trial"]


def tell_trial(
    session: Session, *, project_id: int, trial_id: int, req: TellRequest
) -> tuple[TrialRow, bool]:
    """Finish a trial; also answer whether a prefetch job was queued (wake a worker)."""
    trial, study = repo.get_trial(session, project_id=project_id, trial_id=trial_id, lock=True)
    definition = repo.definition_of(study)
    values = None
    if req.state == "completed":
        values = definition.validate_values(req.values or {})
    elif req.values:
        values = definition.validate_partial_values(req.values)
    state = TrialState(req.state)

    if TrialState(trial.state) not in TELLABLE:
        if (
            trial.state == state.value
            and trial.values == values
            and (state != TrialState.failed or trial.failure_reason == req.reason)
        ):
            return trial, False
        raise Conflict(
            f"trial {trial.id} is already {trial.state} with values {trial.values}",
            field="values" if state == TrialState.completed else "state",
            code="trial_already_finished",
        )
    trial.state = state.value
    trial.values = values
    trial.failure_reason = req.reason if state != TrialState.completed else None
    trial.finished_at = utcnow()
    metrics.TELLS.labels(state.value).inc()
    prefetch = definition.settings.prefetch > 0
    if prefetch:
        enqueue_job(session, study_id=study.id)
    return trial, prefetch


def report_trial(session: Session, *, project_id: int, trial_id: int, req: ReportRequest) -> bool:
    """Store intermediate values for a step; answer whether the trial should stop early."""
    trial, study = repo.get_trial(session, project_id=project_id, trial_id=trial_id, lock=True)
    definition = repo.definition_of(study)
    values = definition.validate_partial_values(req.values)
    if TrialState(trial.state) not in TELLABLE:
        raise Conflict(
            f"trial {trial.id} is already {trial.state}",
            field="trial_id",
            code="trial_already_finished",
        )
    dialect = session.get_bind().dialect.name
    ins = (postgresql if dialect == "postgresql" else sqlite).insert(IntermediateRow)
    inserted = session.scalar(
        ins.values(trial_id=trial.id, step=req.step, values=values, created_at=utcnow())
        .on_conflict_do_nothing(index_elements=["trial_id", "step"])
        .returning(IntermediateRow.step)
    )
    if inserted is None:
        existing = session.scalar(
            select(IntermediateRow.values).where(
                IntermediateRow.trial_id == trial.id, IntermediateRow.step == req.step
            )
        )
        if existing != values:
            raise Conflict(
                f"step {req.step} was already reported with {existing}",
                field="step",
                code="step_already_reported",
            )
    trial.heartbeat_at = utcnow()
    return should_stop(session, definition=definition, trial=trial, step=req.step)


def should_stop(
    session: Session, *, definition: StudyDefinition, trial: TrialRow, step: int
) -> bool:
    """Median stopping rule, per objective.

    Stop when, for every objective this trial has reported, its best value so
    far is worse than the median of the values other finished trials reported
    at the same step (with at least `early_stopping_min_trials` of them and
    past the warm-up steps).
    """
    settings = definition.settings
    if settings.early_stopping == "none" or step < settings.early_stopping_warmup_steps:
        return False
    others = [
        v
        for (v,) in session.execute(
            select(IntermediateRow.values)
            .join(TrialRow, TrialRow.id == IntermediateRow.trial_id)
            .where(
                TrialRow.study_id == trial.study_id,
                TrialRow.state.in_([TrialState.completed.value, TrialState.stopped.value]),
                TrialRow.id != trial.id,
                IntermediateRow.step == step,
            )
        )
    ]
    own = [
        v
        for (v,) in session.execute(
            select(IntermediateRow.values).where(
                IntermediateRow.trial_id == trial.id, IntermediateRow.step <= step
            )
        )
    ]
    verdicts = []
    for objective in definition.objectives:
        peers = [o[objective.name] for o in others if objective.name in o]
        mine = [o[objective.name] for o in own if objective.name in o]
        if not mine or len(peers) < settings.early_stopping_min_trials:
            continue
        sign = definition.sign(objective)
        best = max(sign * v for v in mine)
        verdicts.append(best < sign * statistics.median(peers))
    return bool(verdicts) and all(verdicts)


def heartbeat_trial(session: Session, *, project_id: int, trial_id: int) -> TrialRow:
    trial, _ = repo.get_trial(session, project_id=project_id, trial_id=trial_id)
    if trial.state in (TrialState.running.value, TrialState.pending.value):
        session.execute(
            update(TrialRow).where(TrialRow.id == trial.id).values(heartbeat_at=utcnow())
        )
    return trial
