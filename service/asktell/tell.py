"""Tell, report and heartbeat: the checks and writes that finish or feed a trial.

Tell is idempotent: telling a finished trial the same outcome again returns
it unchanged; a different outcome is a conflict. A stale trial still accepts
its first tell, since its evaluator may come back.
"""

from __future__ import annotations

import statistics

from sqlalchemy import Row, bindparam, or_, select, update
from sqlalchemy.orm import Session

from asktell import metrics
from asktell.core.errors import Conflict, NotFound
from asktell.core.states import TELLABLE, TrialState
from asktell.core.study import StudyDefinition, definition_from_json
from asktell.db import repository as repo
from asktell.db.driver import DriverConnection, register
from asktell.db.models import IntermediateRow, StudyRow, TrialRow, utcnow
from asktell.db.queue import enqueue_job
from asktell.db.session import Database, upsert
from asktell_client.types import ReportRequest, TellRequest

__all__ = ["finish_trial", "heartbeat_trial", "report_trial", "tell_trial"]

# Built once: statement construction per request cost more CPU than the round trips.
_TRIALS, _STUDIES = TrialRow.__table__, StudyRow.__table__
_TELL_READ = register(
    select(
        _TRIALS.c.state,
        _TRIALS.c["values"],
        _TRIALS.c.failure_reason,
        _STUDIES.c.id,
        _STUDIES.c.spec,
        _STUDIES.c.strategy,
        _STUDIES.c.settings,
        _STUDIES.c.updated_at,
    )
    .join(_STUDIES, _STUDIES.c.id == _TRIALS.c.study_id)
    .where(_TRIALS.c.id == bindparam("trial_id"), _STUDIES.c.project_id == bindparam("project"))
)
_TELL_PROBE = _TELL_READ.with_for_update(of=_TRIALS)
_TRIAL_BY_ID = select(_TRIALS).where(_TRIALS.c.id == bindparam("trial_id"))
_FINISH = (
    update(_TRIALS)
    .where(_TRIALS.c.id == bindparam("trial_id"))
    .values(
        state=bindparam("state"),
        values=bindparam("values", type_=_TRIALS.c["values"].type),
        finished_at=bindparam("finished_at"),
        failure_reason=bindparam("failure_reason"),
    )
    .returning(*_TRIALS.c)
)
# Plain comparisons, not IN: the driver path runs the SQL rendered once, and a literal
# IN list would be an expanding parameter that SQLAlchemy renders at each execution.
_FINISH_OPEN = register(_FINISH.where(or_(*(_TRIALS.c.state == s.value for s in sorted(TELLABLE)))))


def finish_trial(
    db: Database, *, project_id: int, trial_id: int, req: TellRequest
) -> tuple[Row, bool]:
    """`tell_trial`, on PostgreSQL first without a transaction where that is enough."""
    if not db.is_sqlite:
        with db.statements() as conn:
            told = _tell_open_trial(conn, project_id=project_id, trial_id=trial_id, req=req)
        if told is not None:
            return told, False
    with db.write() as session:
        return tell_trial(session, project_id=project_id, trial_id=trial_id, req=req)


def tell_trial(
    session: Session, *, project_id: int, trial_id: int, req: TellRequest
) -> tuple[Row, bool]:
    """Finish a trial; also answer whether a prefetch job was queued (wake a worker).

    Two Core statements on the common path: read the trial's state and its
    study (locking the trial), then update it.
    """
    found = session.execute(_TELL_PROBE, {"trial_id": trial_id, "project": project_id}).first()
    if found is None:
        raise NotFound(f"trial {trial_id} not found", field="trial_id", code="trial_not_found")
    definition, state, values = _told(found, req)
    if TrialState(found.state) not in TELLABLE:
        if (
            found.state == state.value
            and found.values == values
            and (state != TrialState.failed or found.failure_reason == req.reason)
        ):
            return session.execute(_TRIAL_BY_ID, {"trial_id": trial_id}).one(), False
        raise Conflict(
            f"trial {trial_id} is already {found.state} with values {found.values}",
            field="values" if state == TrialState.completed else "state",
            code="trial_already_finished",
        )
    row = session.execute(_FINISH, _finish_params(trial_id, state, values, req)).one()
    metrics.TELLS.labels(state.value).inc()
    prefetch = definition.settings.prefetch > 0
    if prefetch:
        enqueue_job(session, study_id=found.id)
    return row, prefetch


def _tell_open_trial(
    conn: DriverConnection, *, project_id: int, trial_id: int, req: TellRequest
) -> Row | None:
    """The common tell in two single statements: read, then update while still open.

    None where `tell_trial` must decide (unknown or finished trial, a study that
    prefetches, an update that lost a race); nothing has been written then.
    """
    found = conn.execute(_TELL_READ, {"trial_id": trial_id, "project": project_id}).first()
    if found is None or TrialState(found.state) not in TELLABLE:
        return None
    definition, state, values = _told(found, req)
    if definition.settings.prefetch > 0:
        return None
    row = conn.execute(_FINISH_OPEN, _finish_params(trial_id, state, values, req)).first()
    if row is not None:
        metrics.TELLS.labels(state.value).inc()
    return row


def _told(found: Row, req: TellRequest) -> tuple[StudyDefinition, TrialState, dict | None]:
    """The study's definition, and the tell's state and validated values."""
    definition = definition_from_json(
        found.spec, found.strategy, found.settings, key=(found.id, found.updated_at.isoformat())
    )
    values = None
    if req.state == "completed":
        values = definition.validate_values(req.values or {})
    elif req.values:
        values = definition.validate_partial_values(req.values)
    return definition, TrialState(req.state), values


def _finish_params(trial_id: int, state: TrialState, values: dict | None, req: TellRequest):
    return {
        "trial_id": trial_id,
        "state": state.value,
        "values": values,
        "finished_at": utcnow(),
        "failure_reason": req.reason if state != TrialState.completed else None,
    }


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
    ins = upsert(session, IntermediateRow)
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
