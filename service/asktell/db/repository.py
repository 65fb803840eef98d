"""The storage contract: verb_noun functions over a session, keyword-only arguments.

Every function runs inside the caller's transaction; none commits. Functions
that take `project_id` never see another project's rows: a study or trial of
another project is reported as not found.
"""

from __future__ import annotations

import hashlib
import secrets
from collections import defaultdict
from datetime import datetime

import numpy as np
from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from asktell.core.errors import Conflict, InvalidInput, NotFound
from asktell.core.snapshots import StudySnapshot, TrialRecord
from asktell.core.states import OPEN, TrialState
from asktell.core.study import (
    StudyDefinition,
    check_metric_names,
    definition_from_create,
    definition_from_json,
)
from asktell.db.convert import study_definition
from asktell.db.models import (
    IntermediateRow,
    ProjectRow,
    StrategyStateRow,
    StudyRow,
    TokenRow,
    TrialRow,
    utcnow,
)
from asktell.db.notes import add_notes, notes_of
from asktell.strategies.base import Strategy
from asktell.strategies.registry import validate_strategy
from asktell_client.types import STORED, StudyCreate, StudyExport, StudyUpdate, TrialExport

DEFAULT_PROJECT = "default"
TOKEN_PREFIX = "at_"


# --------------------------------------------------------------------------- projects, tokens


def get_or_create_project(session: Session, *, name: str = DEFAULT_PROJECT) -> int:
    pid = session.scalar(select(ProjectRow.id).where(ProjectRow.name == name))
    if pid is None:
        row = ProjectRow(name=name)
        session.add(row)
        session.flush()
        pid = row.id
    return pid


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(session: Session, *, project: str, name: str, can_write: bool = True) -> str:
    """Create a token for `project` (created if missing); return the secret, shown once."""
    pid = get_or_create_project(session, name=project)
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    session.add(
        TokenRow(
            project_id=pid,
            name=name,
            prefix=secret[:10],
            token_hash=hash_token(secret),
            can_write=can_write,
        )
    )
    return secret


def revoke_token(session: Session, *, prefix_or_name: str) -> int:
    """Revoke tokens matching a name or the secret's first characters; return how many."""
    result = session.execute(
        update(TokenRow)
        .where(
            TokenRow.revoked_at.is_(None),
            (TokenRow.name == prefix_or_name) | (TokenRow.prefix == prefix_or_name[:10]),
        )
        .values(revoked_at=utcnow())
    )
    return result.rowcount


def list_tokens(session: Session) -> list[tuple[TokenRow, str]]:
    rows = session.execute(
        select(TokenRow, ProjectRow.name).join(ProjectRow).order_by(TokenRow.id)
    ).all()
    return [(t, p) for t, p in rows]


def resolve_token(session: Session, *, token: str) -> TokenRow | None:
    row = session.scalar(select(TokenRow).where(TokenRow.token_hash == hash_token(token)))
    if row is None or row.revoked_at is not None:
        return None
    return row


# --------------------------------------------------------------------------- studies


def definition_of(row: StudyRow) -> StudyDefinition:
    return definition_from_json(
        row.spec, row.strategy, row.settings, key=(row.id, row.updated_at.isoformat())
    )


def validate_fallback(name: str) -> None:
    """The fallback answers inside a request, so it must be an inline strategy."""
    field = "settings.fallback_strategy"
    strategy = validate_strategy(name, {}, field=field, name_field=field)
    if not strategy.inline:
        raise InvalidInput(f"{name!r} is not an inline strategy (try sobol or random)", field=field)


def validate_study_create(spec: StudyCreate) -> StudyDefinition:
    """Checks beyond field types: names, conditions, strategy and its options."""
    definition = definition_from_create(spec)
    check_metric_names(spec)
    strategy = validate_strategy(spec.strategy.name, spec.strategy.options)
    check_fit(strategy, definition)
    validate_fallback(spec.settings.fallback_strategy)
    return definition


def check_fit(strategy: Strategy, definition: StudyDefinition) -> None:
    """The strategy can serve this study's space, objectives and constraints."""
    empty = StudySnapshot(
        study_id=0,
        space=definition.space,
        objectives=definition.objectives,
        constraints=definition.constraints,
        settings=definition.settings,
    )
    try:
        strategy.check(empty)
    except ValueError as exc:
        raise InvalidInput(str(exc), field="strategy.name") from None


def create_study(session: Session, *, project_id: int, spec: StudyCreate) -> StudyRow:
    validate_study_create(spec)
    row = StudyRow(
        project_id=project_id,
        name=spec.name,
        spec={
            "space": [p.model_dump(mode="json", exclude_none=True) for p in spec.space],
            "objectives": [o.model_dump(mode="json") for o in spec.objectives],
            "constraints": [c.model_dump(mode="json") for c in spec.constraints],
        },
        strategy=spec.strategy.model_dump(mode="json"),
        settings=spec.settings.model_dump(mode="json"),
        meta=spec.metadata,
        state="running",
    )
    session.add(row)
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError:
        raise Conflict(
            f"a study named {spec.name!r} already exists", field="name", code="study_exists"
        ) from None
    return row


def get_study(session: Session, *, project_id: int, study_id: int, lock: bool = False) -> StudyRow:
    stmt = select(StudyRow).where(StudyRow.id == study_id, StudyRow.project_id == project_id)
    if lock:
        stmt = stmt.with_for_update()
    row = session.scalar(stmt)
    if row is None:
        raise NotFound(f"study {study_id} not found", field="study_id", code="study_not_found")
    return row


def list_studies(
    session: Session, *, project_id: int, cursor: int | None, limit: int, name: str | None = None
) -> list[StudyRow]:
    stmt = select(StudyRow).where(StudyRow.project_id == project_id).order_by(StudyRow.id)
    if cursor is not None:
        stmt = stmt.where(StudyRow.id > cursor)
    if name is not None:
        stmt = stmt.where(StudyRow.name == name)
    return list(session.scalars(stmt.limit(limit)))


def update_study(session: Session, *, row: StudyRow, patch: StudyUpdate) -> StudyRow:
    if patch.strategy is not None:
        check_fit(
            validate_strategy(patch.strategy.name, patch.strategy.options), definition_of(row)
        )
        row.strategy = patch.strategy.model_dump(mode="json")
        # Buffered suggestions came from the old strategy.
        session.execute(
            delete(TrialRow).where(
                TrialRow.study_id == row.id,
                TrialRow.state == TrialState.pending.value,
                TrialRow.prefetched.is_(True),
            )
        )
    if patch.settings is not None:
        validate_fallback(patch.settings.fallback_strategy)
        row.settings = patch.settings.model_dump(mode="json")
    if patch.state is not None:
        row.state = patch.state.value
    if patch.metadata is not None:
        row.meta = patch.metadata
    row.updated_at = max(utcnow(), row.updated_at)
    return row


def delete_study(session: Session, *, row: StudyRow) -> None:
    session.delete(row)


def trial_counts(session: Session, *, study_ids: list[int]) -> dict[int, dict[str, int]]:
    out: dict[int, dict[str, int]] = defaultdict(dict)
    if not study_ids:
        return out
    rows = session.execute(
        select(TrialRow.study_id, TrialRow.state, func.count())
        .where(TrialRow.study_id.in_(study_ids))
        .group_by(TrialRow.study_id, TrialRow.state)
    )
    for sid, state, n in rows:
        out[sid][state] = n
    return out


# --------------------------------------------------------------------------- trials


def get_trial(
    session: Session, *, project_id: int, trial_id: int, lock: bool = False
) -> tuple[TrialRow, StudyRow]:
    stmt = (
        select(TrialRow, StudyRow)
        .join(StudyRow, StudyRow.id == TrialRow.study_id)
        .where(TrialRow.id == trial_id, StudyRow.project_id == project_id)
    )
    if lock:
        stmt = stmt.with_for_update(of=TrialRow)
    found = session.execute(stmt).first()
    if found is None:
        raise NotFound(f"trial {trial_id} not found", field="trial_id", code="trial_not_found")
    return found[0], found[1]


def list_trials(
    session: Session,
    *,
    study_id: int,
    states: list[str] | None,
    cursor: int | None,
    limit: int,
) -> list[TrialRow]:
    stmt = select(TrialRow).where(TrialRow.study_id == study_id).order_by(TrialRow.id)
    if states:
        stmt = stmt.where(TrialRow.state.in_(states))
    if cursor is not None:
        stmt = stmt.where(TrialRow.id > cursor)
    return list(session.scalars(stmt.limit(limit)))


def intermediates_of(session: Session, *, trial_ids: list[int]) -> dict[int, dict[int, dict]]:
    out: dict[int, dict[int, dict]] = defaultdict(dict)
    if not trial_ids:
        return out
    rows = session.execute(
        select(IntermediateRow.trial_id, IntermediateRow.step, IntermediateRow.values)
        .where(IntermediateRow.trial_id.in_(trial_ids))
        .order_by(IntermediateRow.trial_id, IntermediateRow.step)
    )
    for tid, step, values in rows:
        out[tid][step] = values
    return out


def add_trial(
    session: Session,
    *,
    study: StudyRow,
    params: dict,
    values: dict | None,
    state: TrialState,
    strategy: str = "manual",
    evaluator: str | None = None,
    started_at: datetime | None = None,
    finished_at: datetime | None = None,
    created_at: datetime | None = None,
    failure_reason: str | None = None,
) -> TrialRow:
    definition = definition_of(study)
    key = None
    if state in OPEN and not definition.settings.allow_repeats:
        key = definition.space.point_key(params)
    now = utcnow()
    row = TrialRow(
        study_id=study.id,
        state=state.value,
        params=params,
        values=values,
        point_key=key,
        strategy=strategy,
        evaluator=evaluator,
        failure_reason=failure_reason,
        created_at=created_at or now,
        started_at=started_at,
        finished_at=finished_at
        or (now if state not in OPEN and state != TrialState.stale else None),
        heartbeat_at=now if state == TrialState.running else None,
    )
    session.add(row)
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError:
        raise Conflict(
            "an open trial of this study already has these params",
            field="params",
            code="duplicate_point",
        ) from None
    return row


def export_study(session: Session, *, row: StudyRow) -> StudyExport:
    trials = list(
        session.scalars(select(TrialRow).where(TrialRow.study_id == row.id).order_by(TrialRow.id))
    )
    inter = intermediates_of(session, trial_ids=[t.id for t in trials])
    notes = notes_of(session, study_id=row.id)
    spec = StudyCreate.model_validate(study_definition(row), context={STORED: True})
    return StudyExport(
        study=spec,
        state=row.state,
        trials=[
            TrialExport(
                state=t.state,
                params=t.params,
                values=t.values,
                intermediate=inter.get(t.id, {}),
                failure_reason=t.failure_reason,
                evaluator=t.evaluator,
                strategy=t.strategy,
                created_at=t.created_at,
                started_at=t.started_at,
                finished_at=t.finished_at,
                note=notes.get(t.id),
            )
            for t in trials
        ],
        note=notes.get(None),
    )


def import_study(session: Session, *, project_id: int, export: StudyExport) -> StudyRow:
    """Create a study from an export with all its trials (inside the caller's transaction)."""
    row = create_study(session, project_id=project_id, spec=export.study)
    row.state = export.state.value
    import_trials(session, study=row, trials=export.trials)
    if export.note:
        add_notes(session, study_id=row.id, notes={None: export.note})
    session.flush()
    return row


def import_trials(session: Session, *, study: StudyRow, trials: list[TrialExport]) -> None:
    """Validate then insert exported trials (and their intermediate values) as they were."""
    definition = definition_of(study)
    rows = []
    for i, t in enumerate(trials):
        params = definition.space.validate_params(t.params, field=f"trials[{i}].params")
        values = t.values
        if t.state == TrialState.completed:
            values = definition.validate_values(t.values or {}, field=f"trials[{i}].values")
        elif values:
            values = definition.validate_partial_values(values, field=f"trials[{i}].values")
        open_ = t.state in OPEN and not definition.settings.allow_repeats
        rows.append(
            {
                "study_id": study.id,
                "state": t.state.value,
                "params": params,
                "values": values,
                "point_key": definition.space.point_key(params) if open_ else None,
                "failure_reason": t.failure_reason,
                "evaluator": t.evaluator,
                "strategy": t.strategy,
                "reoffered": False,
                "created_at": t.created_at,
                "started_at": t.started_at,
                "heartbeat_at": t.started_at if t.state == TrialState.running else None,
                "finished_at": t.finished_at,
            }
        )
    if not rows:
        return
    try:
        with session.begin_nested():
            ids = list(
                session.scalars(
                    insert(TrialRow).returning(TrialRow.id, sort_by_parameter_order=True), rows
                )
            )
    except IntegrityError:
        raise Conflict(
            "two open trials share the same params", field="trials", code="duplicate_point"
        ) from None
    inter = [
        {"trial_id": tid, "step": step, "values": values}
        for tid, t in zip(ids, trials, strict=True)
        for step, values in t.intermediate.items()
    ]
    if inter:
        session.execute(insert(IntermediateRow), inter)
    add_notes(
        session,
        study_id=study.id,
        notes={tid: t.note for tid, t in zip(ids, trials, strict=True) if t.note},
    )


def best_trials(session: Session, *, study: StudyRow, limit: int = 1) -> list[TrialRow]:
    """Best feasible completed trials of the first objective."""
    definition = definition_of(study)
    objective = definition.objectives[0]
    col = TrialRow.values[objective.name].as_float()
    stmt = select(TrialRow).where(
        TrialRow.study_id == study.id, TrialRow.state == TrialState.completed.value
    )
    for c in definition.constraints:
        cval = TrialRow.values[c.name].as_float()
        if c.upper is not None:
            stmt = stmt.where(cval <= c.upper)
        if c.lower is not None:
            stmt = stmt.where(cval >= c.lower)
    order = col.desc() if definition.sign(objective) > 0 else col.asc()
    return list(session.scalars(stmt.order_by(order, TrialRow.id).limit(limit)))


def best_values(session: Session, *, study: StudyRow) -> dict[str, float] | None:
    rows = best_trials(session, study=study)
    return rows[0].values if rows else None


def pareto_trials(session: Session, *, study: StudyRow) -> list[TrialRow]:
    """Feasible completed trials that no other feasible completed trial dominates."""
    definition = definition_of(study)
    rows = [
        r
        for r in session.scalars(
            select(TrialRow)
            .where(TrialRow.study_id == study.id, TrialRow.state == TrialState.completed.value)
            .order_by(TrialRow.id)
        )
        if definition.is_feasible(r.values)
    ]
    if not rows:
        return []
    signs = np.array([definition.sign(o) for o in definition.objectives])
    Y = np.array([[r.values[o.name] for o in definition.objectives] for r in rows]) * signs
    keep = []
    for i in range(len(rows)):
        dominated = np.any(np.all(Y[i] <= Y, axis=1) & np.any(Y[i] < Y, axis=1))
        if not dominated:
            keep.append(rows[i])
    return keep


# --------------------------------------------------------------------------- snapshots, state


def load_snapshot(
    session: Session,
    *,
    study: StudyRow,
    with_history: bool = True,
    nonce: int = 0,
    floor: int | None = None,
) -> StudySnapshot:
    """The study as a strategy sees it. With `floor`, finished trials with ids up to it
    are left out (open ones are always in): see `Strategy.history_floor`."""
    definition = definition_of(study)
    completed, pending, failed = [], [], []
    if with_history:
        query = (
            select(
                TrialRow.id,
                TrialRow.state,
                TrialRow.params,
                TrialRow.values,
                TrialRow.strategy,
                TrialRow.prefetched,
            )
            .where(TrialRow.study_id == study.id)
            .order_by(TrialRow.id)
        )
        if floor is not None:
            open_states = (TrialState.running.value, TrialState.pending.value)
            query = query.where((TrialRow.id > floor) | TrialRow.state.in_(open_states))
        rows = session.execute(query)
        for tid, state, params, values, strategy, prefetched in rows:
            rec = TrialRecord(tid, TrialState(state), params, values, strategy)
            if state == TrialState.completed.value:
                completed.append(rec)
            elif state == "running" or (state == "pending" and not prefetched):
                pending.append(rec)
            elif state in (TrialState.failed.value, TrialState.stopped.value):
                failed.append(rec)
    return StudySnapshot(
        study_id=study.id,
        space=definition.space,
        objectives=definition.objectives,
        constraints=definition.constraints,
        settings=definition.settings,
        completed=completed,
        pending=pending,
        failed=failed,
        nonce=nonce,
    )


def get_strategy_state(
    session: Session, *, study_id: int, strategy: str
) -> tuple[dict | None, int]:
    row = session.get(StrategyStateRow, (study_id, strategy))
    return (row.state, row.version) if row else (None, 0)


def set_strategy_state(
    session: Session, *, study_id: int, strategy: str, state: dict, expected_version: int
) -> bool:
    """Compare-and-swap: write `state` only if nobody wrote since `expected_version`."""
    if expected_version == 0:
        session.add(StrategyStateRow(study_id=study_id, strategy=strategy, version=1, state=state))
        try:
            with session.begin_nested():
                session.flush()
        except IntegrityError:
            return False
        return True
    result = session.execute(
        update(StrategyStateRow)
        .where(
            StrategyStateRow.study_id == study_id,
            StrategyStateRow.strategy == strategy,
            StrategyStateRow.version == expected_version,
        )
        .values(state=state, version=expected_version + 1, updated_at=utcnow())
    )
    return result.rowcount == 1


def parse_cursor(cursor: str | None) -> int | None:
    if cursor is None or cursor == "":
        return None
    try:
        value = int(cursor)
    except ValueError:
        raise InvalidInput(
            "cursor must come from a previous page's next_cursor", field="cursor"
        ) from None
    if value < 0:
        raise InvalidInput("cursor must be >= 0", field="cursor")
    return value
