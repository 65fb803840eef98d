"""Python client of the asktell optimization service.

from asktell_client import Client

with Client() as client:
    study = client.studies.create("demo", space=[{"name": "x", "type": "float",
                                                  "low": -5, "high": 5}])
    study.optimize(lambda p: p["x"] ** 2, n_trials=20)
    print(study.best())
"""

from . import types
from ._base import __version__
from ._client import AsyncClient, Client
from ._retry import DEFAULT_MAX_RETRIES
from .errors import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    AsktellError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    InternalServerError,
    NotFoundError,
    OperationError,
    PermissionDeniedError,
    RateLimitError,
    UnprocessableEntityError,
)
from .resources import AsyncStudyHandle, AsyncTrialHandle, StudyHandle, TrialHandle
from .types import *  # noqa: F403
from .types import __all__ as _types_all

__all__ = [
    "DEFAULT_MAX_RETRIES",
    "APIConnectionError",
    "APIStatusError",
    "APITimeoutError",
    "AsktellError",
    "AsyncClient",
    "AsyncStudyHandle",
    "AsyncTrialHandle",
    "AuthenticationError",
    "BadRequestError",
    "Client",
    "ConflictError",
    "InternalServerError",
    "NotFoundError",
    "OperationError",
    "PermissionDeniedError",
    "RateLimitError",
    "StudyHandle",
    "TrialHandle",
    "UnprocessableEntityError",
    "__version__",
    "types",
    *_types_all,
]
