"""Rows → wire types."""

from __future__ import annotations

from typing import Any

from asktell.core.arrays import format_params
from asktell.db.models import StudyRow, TrialRow
from asktell_client.types import STORED, ArrayFormat, Study, Trial


def study_definition(row: StudyRow) -> dict[str, Any]:
    """The fields of `StudyCreate` as stored in `row` (validate with the `STORED` context)."""
    return {
        "name": row.name,
        "space": row.spec["space"],
        "objectives": row.spec["objectives"],
        "constraints": row.spec.get("constraints", []),
        "strategy": row.strategy,
        "settings": row.settings,
        "metadata": row.meta or {},
    }


def study_to_wire(
    row: StudyRow, counts: dict[str, int] | None = None, best: dict[str, float] | None = None
) -> Study:
    stored = {
        **study_definition(row),
        "id": row.id,
        "state": row.state,
        "created_at": row.created_at,
        "updated_at": row.updated_at,
        "trial_counts": counts or {},
        "best_values": best,
    }
    return Study.model_validate(stored, context={STORED: True})


def trial_to_wire(
    row: TrialRow,
    intermediate: dict[int, dict[str, float]] | None = None,
    array_format: ArrayFormat = ArrayFormat.list,
) -> Trial:
    return Trial(
        id=row.id,
        study_id=row.study_id,
        state=row.state,
        params=format_params(row.params, array_format),
        values=row.values,
        intermediate=intermediate or {},
        failure_reason=row.failure_reason,
        evaluator=row.evaluator,
        strategy=row.strategy,
        created_at=row.created_at,
        started_at=row.started_at,
        finished_at=row.finished_at,
        heartbeat_at=row.heartbeat_at,
    )
