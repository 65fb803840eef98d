"""Notes and artifacts on study and trial handles (sync and async).

Study and trial handles mix in the `Attachments` (or `AsyncAttachments`) of their kind,
so both read::

    trial.upload_artifact("plots/loss.png")          # a path: its name and media type
    trial.upload_artifact(b"...", name="model.bin")   # bytes need a name
    study.artifacts(); study.download_artifact(a); study.set_note("# plan")
"""

from __future__ import annotations

import mimetypes
import os
from pathlib import Path
from typing import TYPE_CHECKING

import httpx

from ._base import new_idempotency_key, parse
from .attachments import Artifact, ArtifactList, Note, NoteUpdate

if TYPE_CHECKING:
    from ._client import AsyncClient, Client

__all__ = [
    "AsyncAttachments",
    "AsyncStudyAttachments",
    "AsyncTrialAttachments",
    "Attachments",
    "FileData",
    "StudyAttachments",
    "TrialAttachments",
]

FileData = str | os.PathLike[str] | bytes | bytearray | memoryview
"""What `upload_artifact` takes: a path to read, or the bytes themselves."""


def _file(data: FileData, name: str | None, content_type: str | None) -> tuple[bytes, str, str]:
    """(bytes, file name, media type) of an upload; a path gives its own name."""
    if isinstance(data, bytes | bytearray | memoryview):
        if not name:
            raise ValueError("name is required when uploading bytes")
        content = bytes(data)
    else:
        path = Path(data)
        content = path.read_bytes()
        name = name or path.name
    guessed = mimetypes.guess_type(name)[0]
    return content, name, content_type or guessed or "application/octet-stream"


def _artifact_id(artifact: Artifact | int) -> int:
    return artifact.id if isinstance(artifact, Artifact) else int(artifact)


def _upload_request(
    client: Client | AsyncClient, path: str, content: bytes, name: str, content_type: str
) -> httpx.Request:
    """The upload as one request with one idempotency key, so a retry stores one file."""
    base = client._build_request(
        client._http, "POST", path, params={"name": name}, idempotency_key=new_idempotency_key()
    )
    headers = httpx.Headers(
        [(k, v) for k, v in base.headers.multi_items() if k.lower() != "content-length"]
    )
    headers["Content-Type"] = content_type
    return httpx.Request(
        "POST", base.url, headers=headers, content=content, extensions=base.extensions
    )


class _Owner:
    """The URL of the study or trial that notes and artifacts belong to."""

    id: int
    _kind: str  # "studies" or "trials"

    @property
    def _owner_path(self) -> str:
        return f"/v1/{self._kind}/{self.id}"


class Attachments(_Owner):
    """Notes and artifacts of a study or trial, for the sync handles."""

    _client: Client

    def note(self) -> Note:
        """The note (version 0 and empty until first saved)."""
        return self._client._get(Note, f"{self._owner_path}/note")

    def set_note(self, body: str, version: int | None = None) -> Note:
        """Save the note. Pass the `version` you read to get a `ConflictError` if someone
        saved in between; without it the current version is read first."""
        if version is None:
            version = self.note().version
        payload = NoteUpdate(body=body, version=version).model_dump()
        response = self._client._request("PUT", f"{self._owner_path}/note", json=payload)
        return parse(Note, response)

    def upload_artifact(
        self, data: FileData, name: str | None = None, content_type: str | None = None
    ) -> Artifact:
        """Attach a file (a path, or bytes with a `name`); its media type is guessed from
        the name unless given."""
        content, name, media = _file(data, name, content_type)
        request = _upload_request(
            self._client, f"{self._owner_path}/artifacts", content, name, media
        )
        return parse(Artifact, self._client._send(request))

    def artifacts(self) -> list[Artifact]:
        """The attached files, oldest first (a study's own, not its trials')."""
        return self._client._get(ArtifactList, f"{self._owner_path}/artifacts").items

    def download_artifact(self, artifact: Artifact | int) -> bytes:
        """The bytes of an attached file."""
        aid = _artifact_id(artifact)
        return self._client._request("GET", f"/v1/artifacts/{aid}/content").content

    def delete_artifact(self, artifact: Artifact | int) -> None:
        """Remove an attached file."""
        self._client._request("DELETE", f"/v1/artifacts/{_artifact_id(artifact)}")


class AsyncAttachments(_Owner):
    """Notes and artifacts of a study or trial, for the async handles."""

    _client: AsyncClient

    async def note(self) -> Note:
        """The note (version 0 and empty until first saved)."""
        return await self._client._get(Note, f"{self._owner_path}/note")

    async def set_note(self, body: str, version: int | None = None) -> Note:
        """Save the note; see `Attachments.set_note`."""
        if version is None:
            version = (await self.note()).version
        payload = NoteUpdate(body=body, version=version).model_dump()
        response = await self._client._request("PUT", f"{self._owner_path}/note", json=payload)
        return parse(Note, response)

    async def upload_artifact(
        self, data: FileData, name: str | None = None, content_type: str | None = None
    ) -> Artifact:
        """Attach a file; see `Attachments.upload_artifact`."""
        content, name, media = _file(data, name, content_type)
        request = _upload_request(
            self._client, f"{self._owner_path}/artifacts", content, name, media
        )
        return parse(Artifact, await self._client._send(request))

    async def artifacts(self) -> list[Artifact]:
        """The attached files, oldest first."""
        return (await self._client._get(ArtifactList, f"{self._owner_path}/artifacts")).items

    async def download_artifact(self, artifact: Artifact | int) -> bytes:
        """The bytes of an attached file."""
        aid = _artifact_id(artifact)
        response = await self._client._request("GET", f"/v1/artifacts/{aid}/content")
        return response.content

    async def delete_artifact(self, artifact: Artifact | int) -> None:
        """Remove an attached file."""
        await self._client._request("DELETE", f"/v1/artifacts/{_artifact_id(artifact)}")


class StudyAttachments(Attachments):
    _kind = "studies"


class TrialAttachments(Attachments):
    _kind = "trials"


class AsyncStudyAttachments(AsyncAttachments):
    _kind = "studies"


class AsyncTrialAttachments(AsyncAttachments):
    _kind = "trials"
