"""/v1/studies/{id}/zo-log: the update log of a `zo-model` study, for evaluators to replay."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from asktell.api.deps import CallerDep, ContextDep, StudyId
from asktell.core.errors import Conflict
from asktell.db import repository as repo
from asktell.strategies.zo_model import STATE_VERSION, ZOModel, log_page
from asktell_client.zo_types import ZOLog

router = APIRouter(prefix="/v1", tags=["zo"])

MAX_LOG_PAGE = 10_000


@router.get("/studies/{study_id}/zo-log", response_model=ZOLog)
def read_zo_log(
    study_id: StudyId,
    caller: CallerDep,
    ctx: ContextDep,
    since: Annotated[int, Query(ge=0, le=2**31 - 1)] = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_LOG_PAGE)] = 1000,
) -> ZOLog:
    """Closed steps from `since` on: (seed, projected gradient) pairs and each step's lr."""
    with ctx.db.read() as session:
        study = repo.get_study(session, project_id=caller.project_id, study_id=study_id)
        state, _ = repo.get_strategy_state(session, study_id=study.id, strategy=ZOModel.name)
        if state is None or state.get("version") != STATE_VERSION:
            definition = repo.definition_of(study)
            if definition.strategy.name != ZOModel.name:
                raise Conflict(
                    f"study {study_id} is not a zo-model study",
                    field="strategy.name",
                    code="not_zo_model",
                )
            strategy = ZOModel(definition.strategy.options)
            state = strategy.initial_state(definition.settings.seed)
        return log_page(state, study_id=study.id, since=since, limit=limit)
