"""A lean path for the two hottest requests, ask and tell, in front of FastAPI's router.

`POST /v1/studies/{id}/trials:ask` and `POST /v1/trials/{id}:tell` are answered by the
same handler code as their FastAPI routes, without FastAPI's middleware layers, Starlette's
route scan and FastAPI's dependency resolution. Whatever the lane is
not sure of (a body that does not validate, an unusual query string or content type, a
refused token, an id out of range) goes on to FastAPI with the body it read, so every
input error a client can see is made in one place.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from contextlib import suppress
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from asktell.api.context import AppContext
from asktell.api.deps import MAX_ID, Caller, resolve_writer
from asktell.api.errors import domain_error_response, unexpected_error_response
from asktell.api.routes.trials import answer_ask, answer_tell
from asktell.core.errors import AsktellError
from asktell_client.types import ArrayFormat, AskRequest, TellRequest

Handler = Callable[[AppContext, Caller, int, Any, ArrayFormat], Awaitable[Response]]

_JSON = b"application/json"
_FORMATS = {
    b"": ArrayFormat.list,
    b"array_format=list": ArrayFormat.list,
    b"array_format=b64": ArrayFormat.b64,
}


@dataclass(frozen=True)
class _RouteLabel:
    """What the request timer reads off `scope["route"]`: the FastAPI route's path."""

    path: str


@dataclass(frozen=True)
class _Lane:
    pattern: re.Pattern[str]
    route: _RouteLabel
    model: type[BaseModel]
    handler: Handler


_LANES = (
    _Lane(
        re.compile(r"/v1/studies/(\d{1,19})/trials:ask"),
        _RouteLabel("/v1/studies/{study_id}/trials:ask"),
        AskRequest,
        answer_ask,
    ),
    _Lane(
        re.compile(r"/v1/trials/(\d{1,19}):tell"),
        _RouteLabel("/v1/trials/{trial_id}:tell"),
        TellRequest,
        answer_tell,
    ),
)


class FastLane:
    """Pure ASGI middleware: serves ask and tell itself, everything else goes on."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        lane, ident = _match(scope["path"])
        array_format = _FORMATS.get(scope["query_string"])
        if lane is None or array_format is None:
            await self.app(scope, receive, send)
            return
        authorization, content_type = None, None
        for name, value in scope["headers"]:
            if name == b"authorization":
                authorization = value.decode("latin-1")
            elif name == b"content-type":
                content_type = value
        body = await _read_body(receive)
        if body is None:  # the client went away
            return
        ctx: AppContext = scope["app"].state.ctx
        request = _parse(lane.model, body, content_type) if 1 <= ident <= MAX_ID else None
        caller = None
        if request is not None:
            with suppress(AsktellError):  # FastAPI gives the same refusal
                caller = await resolve_writer(ctx, authorization)
        if caller is None:
            await self.app(scope, _replay(body, receive), send)
            return
        scope["route"] = lane.route
        try:
            response = await lane.handler(ctx, caller, ident, request, array_format)
        except AsktellError as exc:
            response = domain_error_response(exc)
        except Exception as exc:  # the lane sits outside FastAPI's last-resort handler
            response = unexpected_error_response(exc)
        await response(scope, receive, send)


def _match(path: str) -> tuple[_Lane | None, int]:
    for lane in _LANES:
        m = lane.pattern.fullmatch(path)
        if m:
            return lane, int(m[1])
    return None, 0


def _parse(model: type[BaseModel], body: bytes, content_type: bytes | None) -> BaseModel | None:
    """The request model, or None where FastAPI should say what is wrong."""
    if content_type is not None and content_type.split(b";")[0].strip().lower() != _JSON:
        return None
    try:
        return model.model_validate(json.loads(body))
    except (ValueError, ValidationError):
        return None


async def _read_body(receive: Receive) -> bytes | None:
    chunks = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    """A `receive` that hands over the body already read, then the client's own."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay
