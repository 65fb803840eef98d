"""Responses serialized once, straight from the wire model."""

from __future__ import annotations

from fastapi.responses import Response
from pydantic import BaseModel

__all__ = ["ModelResponse"]


class ModelResponse(Response):
    """JSON from `model_dump_json`: skips FastAPI's second validation of a model the
    endpoint already built (the hot ask and tell paths return these)."""

    media_type = "application/json"

    def render(self, content: BaseModel) -> bytes:
        return content.model_dump_json().encode()
