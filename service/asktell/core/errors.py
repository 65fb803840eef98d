"""Domain errors. The API maps each to an HTTP status and a JSON body naming the field."""

from __future__ import annotations


class AsktellError(Exception):
    """Base of every error a client can cause."""

    status_code = 400
    code = "bad_request"

    def __init__(self, message: str, *, field: str | None = None, code: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field
        if code is not None:
            self.code = code


class InvalidInput(AsktellError):
    status_code = 422
    code = "invalid_input"


class NotFound(AsktellError):
    status_code = 404
    code = "not_found"


class Conflict(AsktellError):
    status_code = 409
    code = "conflict"


class Unauthorized(AsktellError):
    status_code = 401
    code = "unauthorized"


class Forbidden(AsktellError):
    status_code = 403
    code = "forbidden"


class Unavailable(AsktellError):
    """A transient condition; the client may retry."""

    status_code = 503
    code = "unavailable"


class TooLarge(AsktellError):
    status_code = 413
    code = "too_large"
