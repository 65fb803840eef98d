"""Exceptions raised by the asktell client.

The hierarchy::

    AsktellError
    ├── APIConnectionError          the request never got an HTTP answer
    │   └── APITimeoutError         ... because it timed out
    ├── OperationError              a pending ask (202 operation) finished with an error
    └── APIStatusError              the server answered 4xx/5xx; carries code, field, message
        ├── BadRequestError             400
        ├── AuthenticationError         401
        ├── PermissionDeniedError       403
        ├── NotFoundError               404
        ├── ConflictError               409  e.g. a tell that contradicts an earlier one
        ├── UnprocessableEntityError    422  invalid input; `field` names the culprit
        ├── RateLimitError              429
        └── InternalServerError         >= 500

Server errors have the body ``{"error": {"code": str, "message": str, "field": str | null}}``.
"""

from __future__ import annotations

from typing import Any

import httpx

__all__ = [
    "APIConnectionError",
    "APIStatusError",
    "APITimeoutError",
    "AsktellError",
    "AuthenticationError",
    "BadRequestError",
    "ConflictError",
    "InternalServerError",
    "NotFoundError",
    "OperationError",
    "PermissionDeniedError",
    "RateLimitError",
    "UnprocessableEntityError",
]


class AsktellError(Exception):
    """Base class of every error this package raises on purpose."""


class APIConnectionError(AsktellError):
    """No HTTP response: the connection failed or broke."""

    def __init__(self, message: str = "connection error", *, request: httpx.Request | None = None):
        super().__init__(message)
        self.message = message
        self.request = request


class APITimeoutError(APIConnectionError):
    """The request timed out."""

    def __init__(self, message: str = "request timed out", *, request: httpx.Request | None = None):
        super().__init__(message, request=request)


class OperationError(AsktellError):
    """A pending ask finished with an error instead of trials."""

    def __init__(self, message: str, *, operation: Any = None):
        super().__init__(message)
        self.message = message
        self.operation = operation


class APIStatusError(AsktellError):
    """The server answered with an error status.

    Attributes:
        status_code: The HTTP status.
        code: The server's machine-readable error code (e.g. ``"no_completed_trials"``).
        field: The request field at fault, when the server names one.
        message: The human-readable reason.
        response: The `httpx.Response`, when there was one.
        body: The decoded JSON body, or None.
    """

    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        code: str,
        field: str | None = None,
        response: httpx.Response | None = None,
        body: Any = None,
    ):
        super().__init__(message)
        self.message = message
        self.status_code = status_code
        self.code = code
        self.field = field
        self.response = response
        self.body = body

    @property
    def reason(self) -> str:
        """Alias of `message`."""
        return self.message

    def __str__(self) -> str:
        where = f" (field: {self.field})" if self.field else ""
        return f"{self.status_code} {self.code}: {self.message}{where}"

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(status_code={self.status_code}, code={self.code!r}, "
            f"field={self.field!r}, message={self.message!r})"
        )


class BadRequestError(APIStatusError):
    """400."""


class AuthenticationError(APIStatusError):
    """401: missing or unknown token."""


class PermissionDeniedError(APIStatusError):
    """403: the token may not touch this resource."""


class NotFoundError(APIStatusError):
    """404."""


class ConflictError(APIStatusError):
    """409: e.g. a duplicate study name or a tell contradicting an earlier tell."""


class UnprocessableEntityError(APIStatusError):
    """422: invalid input; `field` names the offending field."""


class RateLimitError(APIStatusError):
    """429."""


class InternalServerError(APIStatusError):
    """5xx."""


STATUS_ERRORS: dict[int, type[APIStatusError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    422: UnprocessableEntityError,
    429: RateLimitError,
}


def error_class(status_code: int) -> type[APIStatusError]:
    """The exception class for an HTTP error status."""
    if status_code >= 500:
        return InternalServerError
    return STATUS_ERRORS.get(status_code, APIStatusError)
