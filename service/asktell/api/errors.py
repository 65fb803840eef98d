"""Every error leaves the server as `{"error": {"code", "message", "field"}}`."""

from __future__ import annotations

import logging
import re

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from asktell.core.errors import AsktellError

log = logging.getLogger(__name__)

_UNION_TAGS = {"float", "int", "categorical", "fixed", "array"}
_SUBFIELD = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*): (.*)$", re.S)
_HTTP_CODES = {404: "not_found", 405: "method_not_allowed", 401: "unauthorized", 413: "too_large"}


def error_response(
    status: int, code: str, message: str, field: str | None = None, retry: bool | None = None
) -> JSONResponse:
    headers = {}
    if retry is not None:
        headers["x-should-retry"] = "true" if retry else "false"
    return JSONResponse(
        status_code=status,
        content={"error": {"code": code, "message": message, "field": field}},
        headers=headers,
    )


def field_from_loc(loc: tuple) -> str | None:
    """('body', 'space', 0, 'float', 'low') → 'space[0].low'."""
    parts = list(loc)
    if parts and parts[0] in ("body", "query", "path", "header"):
        parts = parts[1:]
    out = ""
    prev_index = False
    for p in parts:
        if isinstance(p, int):
            out += f"[{p}]"
            prev_index = True
            continue
        if prev_index and p in _UNION_TAGS:
            prev_index = False
            continue
        if isinstance(p, str) and p.startswith("function-"):
            continue
        out += f".{p}" if out else str(p)
        prev_index = False
    return out or None


def validation_field_and_message(err: dict) -> tuple[str, str]:
    field = field_from_loc(tuple(err.get("loc", ())))
    msg = str(err.get("msg", "invalid"))
    msg = msg.removeprefix("Value error, ")
    m = _SUBFIELD.match(msg)
    if m:
        field = f"{field}.{m.group(1)}" if field else m.group(1)
        msg = m.group(2)
    if err.get("type") in ("union_tag_invalid", "union_tag_not_found"):
        field = f"{field}.type" if field else "type"
    if err.get("type") == "json_invalid":
        field, msg = "body", f"malformed JSON: {err.get('ctx', {}).get('error', msg)}"
    if field is None:  # the whole body, or a key with no usable name ("")
        field = "body"
    return field, msg


def domain_error_response(exc: AsktellError) -> JSONResponse:
    retry = True if exc.status_code == 503 else None
    return error_response(exc.status_code, exc.code, exc.message, exc.field, retry)


def unexpected_error_response(exc: Exception) -> JSONResponse:
    log.exception("unexpected error", exc_info=exc)
    return error_response(500, "internal", "internal error; it has been logged", retry=True)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(AsktellError)
    async def _domain(_: Request, exc: AsktellError) -> JSONResponse:
        return domain_error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        field, msg = validation_field_and_message(errors[0]) if errors else (None, "invalid")
        return error_response(422, "invalid_input", msg, field, retry=False)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _HTTP_CODES.get(exc.status_code, "http_error")
        return error_response(exc.status_code, code, str(exc.detail))

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        return unexpected_error_response(exc)
