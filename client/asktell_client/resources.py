"""Top-level resources: ``client.studies`` and ``client.trials``, sync and async."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

import httpx

from . import _payloads as P
from ._base import parse
from ._handles import AsyncStudyHandle, AsyncTrialHandle, StudyHandle, TrialHandle
from .errors import NotFoundError
from .types import Study, StudyExport, StudyPage, Trial

if TYPE_CHECKING:
    from ._client import AsyncClient, Client

__all__ = [
    "AsyncStudies",
    "AsyncStudyHandle",
    "AsyncTrialHandle",
    "AsyncTrials",
    "StudyHandle",
    "Studies",
    "TrialHandle",
    "Trials",
]

StudyRef = int | str | StudyHandle | AsyncStudyHandle


def _study_id(ref: StudyRef) -> int | None:
    """The id a reference names directly, or None for a study name."""
    if isinstance(ref, StudyHandle | AsyncStudyHandle):
        return ref.id
    if isinstance(ref, int):
        return ref
    return int(ref) if ref.isdigit() else None


def _by_name(name: str) -> dict[str, Any]:
    return {"name": name, "limit": 1}


def _pick(page: StudyPage, name: str, response: httpx.Response) -> Study:
    for study in page.items:
        if study.name == name:
            return study
    raise NotFoundError(
        f"no study named {name!r}",
        status_code=404,
        code="study_not_found",
        field="name",
        response=response,
    )


class Studies:
    """``client.studies``: create, find, list, delete and import studies."""

    def __init__(self, client: Client):
        self._client = client

    def create(
        self,
        name: str,
        space: Iterable[Any],
        objectives: Any = None,
        constraints: Iterable[Any] | None = None,
        strategy: Any = None,
        settings: Any = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> StudyHandle:
        """Create a study; 409 `ConflictError` if the name is taken.

        `objectives` may be `ObjectiveSpec`s, dicts, names, or a {name: direction} map;
        `strategy` a name or a `StrategySpec`.
        """
        body = P.study_create_body(
            name=name,
            space=space,
            objectives=objectives,
            constraints=constraints,
            strategy=strategy,
            settings=settings,
            metadata=metadata,
        )
        response = self._client._request("POST", "/v1/studies", json=body)
        return StudyHandle(self._client, parse(Study, response))

    def get(self, id_or_name: StudyRef) -> StudyHandle:
        """A study by id or by name."""
        study_id = _study_id(id_or_name)
        if study_id is not None:
            return StudyHandle(self._client, self._client._get(Study, f"/v1/studies/{study_id}"))
        name = str(id_or_name)
        response = self._client._request("GET", "/v1/studies", params=_by_name(name))
        return StudyHandle(self._client, _pick(parse(StudyPage, response), name, response))

    def list(self, name: str | None = None, page_size: int | None = None) -> Iterator[StudyHandle]:
        """Iterate over the studies this token can see, page by page."""
        cursor: str | None = None
        while True:
            page = self._client._get(
                StudyPage, "/v1/studies", name=name, limit=page_size, cursor=cursor
            )
            for study in page.items:
                yield StudyHandle(self._client, study)
            if not page.next_cursor:
                return
            cursor = page.next_cursor

    def delete(self, id_or_name: StudyRef) -> None:
        """Delete a study and its trials."""
        study_id = _study_id(id_or_name)
        if study_id is None:
            study_id = self.get(id_or_name).id
        self._client._request("DELETE", f"/v1/studies/{study_id}")

    def import_(self, export: StudyExport | Mapping[str, Any]) -> StudyHandle:
        """Create a study from an export (`StudyHandle.export()`), history included."""
        response = self._client._request("POST", "/v1/studies:import", json=P.export_body(export))
        return StudyHandle(self._client, parse(Study, response))


class Trials:
    """``client.trials``: reach a trial by id, e.g. from another process."""

    def __init__(self, client: Client):
        self._client = client

    def get(self, trial_id: int) -> TrialHandle:
        """A handle on a trial, with its study's settings."""
        trial = self._client._get(Trial, f"/v1/trials/{trial_id}")
        study = self._client._get(Study, f"/v1/studies/{trial.study_id}")
        return TrialHandle(self._client, study, trial)


class AsyncStudies:
    """``client.studies`` of `AsyncClient`; the same methods as `Studies`."""

    def __init__(self, client: AsyncClient):
        self._client = client

    async def create(
        self,
        name: str,
        space: Iterable[Any],
        objectives: Any = None,
        constraints: Iterable[Any] | None = None,
        strategy: Any = None,
        settings: Any = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> AsyncStudyHandle:
        """Create a study; 409 `ConflictError` if the name is taken."""
        body = P.study_create_body(
            name=name,
            space=space,
            objectives=objectives,
            constraints=constraints,
            strategy=strategy,
            settings=settings,
            metadata=metadata,
        )
        response = await self._client._request("POST", "/v1/studies", json=body)
        return AsyncStudyHandle(self._client, parse(Study, response))

    async def get(self, id_or_name: StudyRef) -> AsyncStudyHandle:
        """A study by id or by name."""
        study_id = _study_id(id_or_name)
        if study_id is not None:
            data = await self._client._get(Study, f"/v1/studies/{study_id}")
            return AsyncStudyHandle(self._client, data)
        name = str(id_or_name)
        response = await self._client._request("GET", "/v1/studies", params=_by_name(name))
        return AsyncStudyHandle(self._client, _pick(parse(StudyPage, response), name, response))

    async def list(
        self, name: str | None = None, page_size: int | None = None
    ) -> AsyncIterator[AsyncStudyHandle]:
        """Iterate over the studies this token can see, page by page."""
        cursor: str | None = None
        while True:
            page = await self._client._get(
                StudyPage, "/v1/studies", name=name, limit=page_size, cursor=cursor
            )
            for study in page.items:
                yield AsyncStudyHandle(self._client, study)
            if not page.next_cursor:
                return
            cursor = page.next_cursor

    async def delete(self, id_or_name: StudyRef) -> None:
        """Delete a study and its trials."""
        study_id = _study_id(id_or_name)
        if study_id is None:
            study_id = (await self.get(id_or_name)).id
        await self._client._request("DELETE", f"/v1/studies/{study_id}")

    async def import_(self, export: StudyExport | Mapping[str, Any]) -> AsyncStudyHandle:
        """Create a study from an export, history included."""
        body = P.export_body(export)
        response = await self._client._request("POST", "/v1/studies:import", json=body)
        return AsyncStudyHandle(self._client, parse(Study, response))


class AsyncTrials:
    """``client.trials`` of `AsyncClient`."""

    def __init__(self, client: AsyncClient):
        self._client = client

    async def get(self, trial_id: int) -> AsyncTrialHandle:
        """A handle on a trial, with its study's settings."""
        trial = await self._client._get(Trial, f"/v1/trials/{trial_id}")
        study = await self._client._get(Study, f"/v1/studies/{trial.study_id}")
        return AsyncTrialHandle(self._client, study, trial)
