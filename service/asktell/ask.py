"""The ask flow: hand out waiting points, re-offer stale ones, then new suggestions.

One ask is one transaction. Inline strategies answer in it; model-based ones
record an operation and queue (or join) the study's suggestion job, and the
caller waits a bounded time for a worker to finish it.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from sqlalchemy import Row, bindparam, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from asktell import metrics
from asktell.core.errors import Conflict, NotFound, Unavailable
from asktell.core.states import OperationState, StudyState, TrialState
from asktell.db import repository as repo
from asktell.db.driver import DriverConnection, register
from asktell.db.models import OperationRow, StudyRow, TrialRow, utcnow
from asktell.db.queue import enqueue_job
from asktell.db.session import Database, upsert
from asktell.strategies.base import Proposal, Strategy
from asktell.strategies.registry import get_strategy
from asktell_client.types import ArrayParam, AskRequest, FloatParam, StudySettings

__all__ = ["AskOutcome", "StateConflict", "insert_suggested_trials", "start_ask"]

MAX_ATTEMPTS = 8

# The hot path's statements are built once: building a statement and its cache
# key per request cost more CPU than the round trips it made.
_TRIALS = TrialRow.__table__
_STUDIES = StudyRow.__table__
_INSERT_TRIALS = register(insert(_TRIALS).returning(*_TRIALS.c, sort_by_parameter_order=True))
_SET_OPERATION = (
    update(_TRIALS)
    .where(_TRIALS.c.id.in_(bindparam("ids", expanding=True)))
    .values(operation_id=bindparam("op_id"))
)


def _study_probe():
    """The study, and whether pending, stale or silent trials wait: one statement."""
    t = _TRIALS
    pending = select(t.c.id).where(t.c.study_id == _STUDIES.c.id, t.c.state == "pending").exists()
    stale = (
        select(t.c.id)
        .where(t.c.study_id == _STUDIES.c.id, t.c.state == "stale", t.c.reoffered.is_(False))
        .exists()
    )
    oldest_beat = (
        select(func.min(t.c.heartbeat_at))
        .where(t.c.study_id == _STUDIES.c.id, t.c.state == "running")
        .scalar_subquery()
    )
    s = _STUDIES.c
    return select(
        # What the ask reads of a study: its state and what `repo.definition_of` needs.
        *(s.id, s.state, s.spec, s.strategy, s.settings, s.updated_at),
        pending.label("has_pending"),
        stale.label("has_stale"),
        oldest_beat.label("oldest_beat"),
    ).where(_STUDIES.c.id == bindparam("study_id"), _STUDIES.c.project_id == bindparam("project"))


_STUDY_PROBE = register(_study_probe())
StudyRecord = StudyRow | Row  # an ORM study, or a Core row with the columns the ask reads


class StateConflict(Exception):
    """A concurrent writer changed the strategy state; the ask is retried."""


@dataclass
class AskOutcome:
    trials: list[TrialRow | Row]
    operation_id: int | None = None
    done: bool = True
    refill: bool = False
    settings: StudySettings | None = None  # for an ask that waits: its deadlines


def start_ask(db: Database, *, project_id: int, study_id: int, req: AskRequest) -> AskOutcome:
    """Run the ask transaction, retrying on a concurrent conflict."""
    if not db.is_sqlite and req.request_id is None:
        with db.statements() as conn:
            outcome = _ask_inline_plain(conn, project_id=project_id, study_id=study_id, req=req)
        if outcome is not None:
            return outcome
    last: Exception | None = None
    for _ in range(MAX_ATTEMPTS):
        try:
            with db.write() as session:
                return _ask_once(session, project_id=project_id, study_id=study_id, req=req)
        except (IntegrityError, StateConflict) as exc:
            last = exc
    if isinstance(last, StateConflict):
        raise Unavailable(
            "concurrent asks kept changing the strategy state; retry", code="busy"
        ) from last
    raise Conflict(
        "could not find new distinct points (the space may be exhausted by open trials)",
        code="space_exhausted",
    ) from last


def _ask_inline_plain(
    conn: DriverConnection, *, project_id: int, study_id: int, req: AskRequest
) -> AskOutcome | None:
    """The common ask in two single statements: read the study, insert new trials.

    It serves an inline strategy without state or budget when no pending or stale
    trials wait; a transaction would add only its BEGIN and COMMIT round trips, as
    the ask takes no lock then. None (nothing written) where `_ask_once` must decide.
    """
    study, waiting_kinds = _study_and_waiting(conn, project_id=project_id, study_id=study_id)
    if study.state != StudyState.running.value:
        return None
    definition = repo.definition_of(study)
    cls = get_strategy(definition.strategy.name)
    settings = definition.settings
    if (
        not cls.inline
        or cls.stateful
        or settings.budget is not None
        or waiting_kinds(settings.heartbeat_timeout)
    ):
        return None
    try:
        new = _suggest_inline(
            conn,
            study=study,
            cls=cls,
            options=definition.strategy.options,
            n=req.count,
            evaluator=req.evaluator,
            op_id=None,
        )
    except (IntegrityError, Conflict):  # a point taken meanwhile, or none left
        return None
    return AskOutcome(new)


def _ask_once(session: Session, *, project_id: int, study_id: int, req: AskRequest) -> AskOutcome:
    study, waiting_kinds = _study_and_waiting(session, project_id=project_id, study_id=study_id)
    if study.state != StudyState.running.value:
        raise Conflict(f"study is {study.state}", field="state", code=f"study_{study.state}")
    definition = repo.definition_of(study)
    cls = get_strategy(definition.strategy.name)
    if definition.settings.budget is not None or (cls.inline and cls.stateful):
        # Budgeted asks take turns, so two of them never promise the same last trials;
        # so do asks of an inline strategy with state (sobol, zo-model), which would
        # otherwise mostly lose the race to write it and retry.
        # NO KEY UPDATE: compatible with the KEY SHARE locks that inserts referencing the
        # study take, which plain FOR UPDATE would turn into deadlocks.
        session.execute(
            select(StudyRow.id).where(StudyRow.id == study.id).with_for_update(key_share=True)
        )

    op_id = None
    if req.request_id is not None:
        op_id = _claim_request(session, study_id=study.id, req=req)
        if op_id is None:
            return replace(
                _replay(session, study_id=study.id, request_id=req.request_id),
                settings=definition.settings,
            )

    count = _within_budget(session, study=study, budget=definition.settings.budget, n=req.count)
    timeout = definition.settings.heartbeat_timeout
    handed: list[Row] = []
    waiting = waiting_kinds(timeout)
    if "pending" in waiting:
        handed = _hand_out_pending(
            session, study_id=study.id, n=count, evaluator=req.evaluator, op_id=op_id
        )
    if "stale" in waiting:
        handed += _reoffer_stale(
            session,
            study=study,
            n=count - len(handed),
            evaluator=req.evaluator,
            op_id=op_id,
            timeout=timeout,
        )
    remaining = count - len(handed)
    refill = definition.settings.prefetch > 0 and any(t.prefetched for t in handed)
    if refill:
        enqueue_job(session, study_id=study.id)
    if remaining == 0:
        return AskOutcome(handed, op_id, refill=refill)

    if cls.inline:
        new = _suggest_inline(
            session,
            study=study,
            cls=cls,
            options=definition.strategy.options,
            n=remaining,
            evaluator=req.evaluator,
            op_id=op_id,
        )
        return AskOutcome(handed + new, op_id)

    if op_id is None:
        op_id = _create_operation(session, study_id=study.id, req=req)
        if handed:
            session.execute(_SET_OPERATION, {"ids": [t.id for t in handed], "op_id": op_id})
    session.execute(
        update(OperationRow)
        .where(OperationRow.id == op_id)
        .values(state=OperationState.waiting.value, count=count)
    )
    enqueue_job(session, study_id=study.id)
    return AskOutcome(handed, op_id, done=False, settings=definition.settings)


def _suggest_inline(
    session: Session,
    *,
    study: StudyRecord,
    cls: type[Strategy],
    options: dict,
    n: int,
    evaluator: str,
    op_id: int | None,
) -> list[Row]:
    """Run a cheap strategy in this transaction, skipping points that open trials hold."""
    definition = repo.definition_of(study)
    space = definition.space
    strategy = cls(options)
    state, version = (
        repo.get_strategy_state(session, study_id=study.id, strategy=cls.name)
        if cls.stateful
        else (None, 0)
    )
    snapshot = repo.load_snapshot(
        session,
        study=study,
        with_history=cls.needs_history,
        floor=strategy.history_floor(state, space),
    )
    repeats = definition.settings.allow_repeats
    # Collisions need a space without an always-active float parameter.
    may_collide = not repeats and not any(
        isinstance(p, FloatParam | ArrayParam) and p.condition is None for p in space
    )
    points: list[dict] = []
    sources: list[str] = []
    seen: set[str] = set()
    new_state = state
    for _ in range(MAX_ATTEMPTS):
        snapshot = replace(snapshot, nonce=secrets.randbits(63))
        with metrics.SUGGEST_SECONDS.labels(cls.name).time():
            need = n - len(points)
            proposal = strategy.suggest(
                snapshot, max(4 * need, 32) if may_collide else need, new_state
            )
        new_state = proposal.state if proposal.state is not None else new_state
        keys = [space.point_key(p) for p in proposal.points]
        taken = _open_keys(session, study_id=study.id, keys=keys) if may_collide else set()
        for i, (point, key) in enumerate(zip(proposal.points, keys, strict=True)):
            if len(points) < n and (repeats or (key not in seen and key not in taken)):
                seen.add(key)
                points.append(point)
                sources.append(proposal.strategies[i] if proposal.strategies else cls.name)
        if len(points) == n or not may_collide:
            break
    if not points:
        raise Conflict("every point of the space is held by an open trial", code="space_exhausted")
    if (
        new_state is not None
        and new_state is not state
        and not repo.set_strategy_state(
            session, study_id=study.id, strategy=cls.name, state=new_state, expected_version=version
        )
    ):
        raise StateConflict
    return insert_suggested_trials(
        session,
        study=study,
        proposal=Proposal(points[:n], strategies=sources[:n]),
        strategy=cls.name,
        evaluators=[evaluator] * len(points[:n]),
        op_id=op_id,
    )


def _open_keys(session: Session, *, study_id: int, keys: list[str]) -> set[str]:
    return set(
        session.scalars(
            select(TrialRow.point_key).where(
                TrialRow.study_id == study_id,
                TrialRow.point_key.in_(keys),
                TrialRow.state.in_([TrialState.pending.value, TrialState.running.value]),
            )
        )
    )


def answer_with_fallback(db: Database, *, op_id: int) -> bool:
    """Finish a waiting ask with the study's fallback strategy (its deadline passed)."""
    for _ in range(MAX_ATTEMPTS):
        try:
            with db.write() as session:
                op = session.scalar(
                    select(OperationRow).where(OperationRow.id == op_id).with_for_update()
                )
                if op is None or op.state != OperationState.waiting.value:
                    return False
                study = session.get(StudyRow, op.study_id)
                have = session.scalar(select(func.count()).where(TrialRow.operation_id == op_id))
                name = repo.definition_of(study).settings.fallback_strategy
                _suggest_inline(
                    session,
                    study=study,
                    cls=get_strategy(name),
                    options={},
                    n=op.count - int(have or 0),
                    evaluator=op.evaluator,
                    op_id=op_id,
                )
                op.state = OperationState.done.value
                op.done_at = utcnow()
                return True
        except (IntegrityError, StateConflict):
            continue
    return False


def read_operation(db: Database, *, project_id: int, op_id: int) -> tuple[OperationRow, list]:
    """An operation of the caller's project, with its trials."""
    with db.read() as session:
        op = session.scalar(
            select(OperationRow)
            .join(StudyRow, StudyRow.id == OperationRow.study_id)
            .where(OperationRow.id == op_id, StudyRow.project_id == project_id)
        )
        if op is None:
            raise NotFound(
                f"operation {op_id} not found", field="operation_id", code="operation_not_found"
            )
        trials = list(
            session.scalars(
                select(TrialRow).where(TrialRow.operation_id == op_id).order_by(TrialRow.id)
            )
        )
        return op, trials


def insert_suggested_trials(
    session: Session,
    *,
    study: StudyRecord,
    proposal: Proposal,
    strategy: str,
    evaluators: list[str | None],
    op_id: int | list[int] | None,
    buffered: bool = False,
) -> list[Row]:
    """Insert running trials for a proposal's points (one statement).

    `buffered=True` inserts them as pending prefetched trials instead, which
    the next asks hand out. The time is taken just before the insert, as close as
    the process can get to the moment the trials become visible.
    """
    definition = repo.definition_of(study)
    now = utcnow()
    allow_repeats = definition.settings.allow_repeats
    op_ids = op_id if isinstance(op_id, list) else [op_id] * len(proposal.points)
    rows = [
        {
            "study_id": study.id,
            "state": (TrialState.pending if buffered else TrialState.running).value,
            "params": point,
            "point_key": None if allow_repeats else definition.space.point_key(point),
            "strategy": (proposal.strategies[i] if proposal.strategies else None) or strategy,
            "evaluator": evaluators[i],
            "operation_id": op_ids[i],
            "reoffered": False,
            "prefetched": buffered,
            "created_at": now,
            "started_at": None if buffered else now,
            "heartbeat_at": None if buffered else now,
        }
        for i, point in enumerate(proposal.points)
    ]
    if not rows:
        return []
    return list(session.execute(_INSERT_TRIALS, rows))


def _claim_request(session: Session, *, study_id: int, req: AskRequest) -> int | None:
    """Record the ask under its request id; None if that id was seen before."""
    values = {
        "study_id": study_id,
        "count": req.count,
        "evaluator": req.evaluator,
        "request_id": req.request_id,
        "state": OperationState.done.value,
        "created_at": utcnow(),
    }
    ins = upsert(session, OperationRow)
    stmt = (
        ins.values(**values)
        .on_conflict_do_nothing(index_elements=["study_id", "request_id"])
        .returning(OperationRow.id)
    )
    return session.scalar(stmt)


def _create_operation(session: Session, *, study_id: int, req: AskRequest) -> int:
    row = OperationRow(
        study_id=study_id,
        count=req.count,
        evaluator=req.evaluator,
        state=OperationState.waiting.value,
    )
    session.add(row)
    session.flush()
    return row.id


def _replay(session: Session, *, study_id: int, request_id: str) -> AskOutcome:
    """A retried ask: answer with what the first attempt produced."""
    op = session.scalar(
        select(OperationRow).where(
            OperationRow.study_id == study_id, OperationRow.request_id == request_id
        )
    )
    assert op is not None
    trials = list(
        session.scalars(
            select(TrialRow).where(TrialRow.operation_id == op.id).order_by(TrialRow.id)
        )
    )
    return AskOutcome(trials, op.id, done=op.state != OperationState.waiting.value)


def _within_budget(session: Session, *, study: StudyRecord, budget: int | None, n: int) -> int:
    if budget is None:
        return n
    waiting = select(OperationRow.id).where(
        OperationRow.study_id == study.id, OperationRow.state == OperationState.waiting.value
    )
    promised = session.scalar(
        select(func.coalesce(func.sum(OperationRow.count), 0)).where(OperationRow.id.in_(waiting))
    )
    delivered = session.scalar(select(func.count()).where(TrialRow.operation_id.in_(waiting)))
    left = budget - budget_used(session, study_id=study.id) - (int(promised) - int(delivered))
    if left <= 0:
        raise Conflict(f"the study's budget of {budget} trials is used up", code="budget_exhausted")
    return min(n, left)


def _study_and_waiting(session: Session, *, project_id: int, study_id: int):
    """The study, and a function telling (for a heartbeat timeout) whether pending trials
    or silent/stale ones wait to be handed out: one statement on the common path."""
    study = session.execute(_STUDY_PROBE, {"study_id": study_id, "project": project_id}).first()
    if study is None:
        raise NotFound(f"study {study_id} not found", field="study_id", code="study_not_found")
    has_pending, has_stale, beat = study.has_pending, study.has_stale, study.oldest_beat

    def kinds(timeout: float) -> set[str]:
        out = {"pending"} if has_pending else set()
        # SQLite hands back the stored text through min().
        last = datetime.fromisoformat(beat) if isinstance(beat, str) else beat
        if last is not None and last.tzinfo is None:
            last = last.replace(tzinfo=UTC)
        silent = last is not None and last < utcnow() - timedelta(seconds=timeout)
        if has_stale or silent:
            out.add("stale")
        return out

    return study, kinds


def budget_used(session: Session, *, study_id: int) -> int:
    """Trials that count against the budget: all but failed, stale and prefetched ones."""
    used = session.scalar(
        select(func.count()).where(
            TrialRow.study_id == study_id,
            TrialRow.state.in_(["pending", "running", "completed", "stopped"]),
            TrialRow.prefetched.is_(False) | (TrialRow.state != TrialState.pending.value),
        )
    )
    return int(used or 0)


def _hand_out_pending(
    session: Session, *, study_id: int, n: int, evaluator: str, op_id: int | None
) -> list[Row]:
    if n <= 0:
        return []
    # Pick the ids first: PostgreSQL may re-run a LIMIT subquery inside UPDATE ... IN (...).
    ids = list(
        session.scalars(
            select(TrialRow.id)
            .where(TrialRow.study_id == study_id, TrialRow.state == TrialState.pending.value)
            .order_by(TrialRow.id)
            .limit(n)
            .with_for_update(skip_locked=True)
        )
    )
    if not ids:
        return []
    now = utcnow()
    stmt = (
        update(_TRIALS)
        .where(_TRIALS.c.id.in_(ids), _TRIALS.c.state == TrialState.pending.value)
        .values(
            state=TrialState.running.value,
            evaluator=evaluator,
            started_at=now,
            heartbeat_at=now,
            operation_id=op_id,
        )
        .returning(*_TRIALS.c)
    )
    return list(session.execute(stmt))


def mark_stale(session: Session, *, study_id: int, timeout: float) -> int:
    """Running trials silent for longer than `timeout` seconds become stale."""
    cutoff = utcnow() - timedelta(seconds=timeout)
    result = session.execute(
        update(TrialRow)
        .where(
            TrialRow.study_id == study_id,
            TrialRow.state == TrialState.running.value,
            TrialRow.heartbeat_at < cutoff,
        )
        .values(state=TrialState.stale.value)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount


def _reoffer_stale(
    session: Session,
    *,
    study: StudyRecord,
    n: int,
    evaluator: str,
    op_id: int | None,
    timeout: float,
) -> list[Row]:
    if n <= 0:
        return []
    mark_stale(session, study_id=study.id, timeout=timeout)
    ids = list(
        session.scalars(
            select(TrialRow.id)
            .where(
                TrialRow.study_id == study.id,
                TrialRow.state == TrialState.stale.value,
                TrialRow.reoffered.is_(False),
            )
            .order_by(TrialRow.id)
            .limit(n)
            .with_for_update(skip_locked=True)
        )
    )
    if not ids:
        return []
    stale = session.execute(
        update(TrialRow)
        .where(TrialRow.id.in_(ids), TrialRow.reoffered.is_(False))
        .values(reoffered=True)
        .returning(TrialRow.params, TrialRow.strategy)
        .execution_options(synchronize_session=False)
    ).all()
    if not stale:
        return []
    proposal = Proposal([p for p, _ in stale], strategies=[s or "reoffer" for _, s in stale])
    return insert_suggested_trials(
        session,
        study=study,
        proposal=proposal,
        strategy="reoffer",
        evaluators=[evaluator] * len(stale),
        op_id=op_id,
    )
