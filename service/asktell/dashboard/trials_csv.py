"""A study's trials as CSV, streamed in id order a batch at a time.

Columns: id, state, one per metric (`value.<name>`), one per parameter (`param.<name>`),
strategy, evaluator, failure_reason and the times. The table's filters (states, strategy,
evaluator) apply. Text that a spreadsheet would read as a formula (starting with
`=`, `+`, `-`, `@`, a tab or a carriage return) is prefixed with a single quote.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse
from sqlalchemy import select

from asktell.api.context import AppContext
from asktell.api.deps import CallerDep, ContextDep, StudyId
from asktell.dashboard.common import study_of
from asktell.dashboard.queries import TrialFilter
from asktell.db import repository as repo
from asktell.db.models import TrialRow
from asktell_client.types import TrialState

__all__ = ["BATCH", "csv_cell", "router"]

router = APIRouter(prefix="/v1/dashboard", tags=["dashboard"])

BATCH = 2000
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
TIMES = ("created_at", "started_at", "finished_at")
_COLUMNS = (
    TrialRow.id,
    TrialRow.state,
    TrialRow.values,
    TrialRow.params,
    TrialRow.strategy,
    TrialRow.evaluator,
    TrialRow.failure_reason,
    TrialRow.created_at,
    TrialRow.started_at,
    TrialRow.finished_at,
)


def csv_cell(value) -> str | int | float:
    """One cell: numbers as they are, lists and objects as JSON, text made formula-safe."""
    kind = type(value)
    if kind is float or kind is int:
        return value
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return value
    if isinstance(value, datetime):
        return value.isoformat()
    text = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
    return "'" + text if text.startswith(FORMULA_START) else text


def _filename(study_id: int, name: str) -> str:
    return f"study-{study_id}-{re.sub(r'[^A-Za-z0-9_.-]', '_', name)[:80]}-trials.csv"


def _rows(
    ctx: AppContext, study_id: int, where: TrialFilter, metrics: list[str], params: list[str]
) -> Iterator[str]:
    """The CSV text: the header, then one chunk per batch, each read in its own transaction."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    header = [
        "id",
        "state",
        *(f"value.{m}" for m in metrics),
        *(f"param.{p}" for p in params),
        "strategy",
        "evaluator",
        "failure_reason",
        *TIMES,
    ]
    writer.writerow([csv_cell(h) for h in header])
    last = 0
    while True:
        stmt = select(*_COLUMNS).where(TrialRow.study_id == study_id, TrialRow.id > last)
        if where.states:
            stmt = stmt.where(TrialRow.state.in_(where.states))
        if where.strategy is not None:
            stmt = stmt.where(TrialRow.strategy == where.strategy)
        if where.evaluator is not None:
            stmt = stmt.where(TrialRow.evaluator == where.evaluator)
        with ctx.db.read() as session:
            batch = session.execute(stmt.order_by(TrialRow.id).limit(BATCH)).all()
        for tid, state, values, prm, strategy, evaluator, reason, *times in batch:
            values, prm = values or {}, prm or {}
            writer.writerow(
                [
                    tid,
                    csv_cell(state),
                    *(csv_cell(values.get(m)) for m in metrics),
                    *(csv_cell(prm.get(p)) for p in params),
                    csv_cell(strategy),
                    csv_cell(evaluator),
                    csv_cell(reason),
                    *(csv_cell(t) for t in times),
                ]
            )
        yield out.getvalue()
        out.seek(0)
        out.truncate()
        if len(batch) < BATCH:
            return
        last = batch[-1][0]


@router.get("/studies/{study_id}/trials.csv", response_class=StreamingResponse)
def trials_csv(
    study_id: StudyId,
    caller: CallerDep,
    ctx: ContextDep,
    state: Annotated[list[TrialState] | None, Query()] = None,
    strategy: Annotated[str | None, Query(max_length=64)] = None,
    evaluator: Annotated[str | None, Query(max_length=128)] = None,
) -> StreamingResponse:
    """Every trial of the study that matches the filters, as CSV in id order."""
    with ctx.db.read() as session:
        study = study_of(session, caller, study_id)
        definition = repo.definition_of(study)
        params = [p.name for p in definition.space.params]
        metrics = list(definition.metric_names)
        name = study.name
    where = TrialFilter(
        states=[s.value for s in state] if state else None, strategy=strategy, evaluator=evaluator
    )
    return StreamingResponse(
        _rows(ctx, study_id, where, metrics, params),
        media_type="text/csv; charset=utf-8",
        headers={
            "content-disposition": f'attachment; filename="{_filename(study_id, name)}"',
            "cache-control": "no-store",
        },
    )
