"""Array parameter values on the client: numpy when it is installed, plain lists otherwise.

The client depends on httpx and pydantic only. numpy is imported lazily, from the
optional extra ``asktell-client[numpy]``; with it the client asks the server for
compact float32 blocks (``array_format=b64``) and hands evaluators numpy arrays.
"""

from __future__ import annotations

import base64
import importlib.util
import sys
from array import array
from collections.abc import Mapping
from functools import cache
from typing import TYPE_CHECKING, Any

from .types import ArrayBlock, ArrayParam, Study

if TYPE_CHECKING:
    import numpy as np

__all__ = [
    "NUMPY_HINT",
    "array_names",
    "array_query",
    "decode",
    "encode_params",
    "evaluator_params",
    "has_numpy",
    "summarize",
    "to_numpy",
]

NUMPY_HINT = "numpy is needed for array parameters as arrays: pip install 'asktell-client[numpy]'"


@cache
def has_numpy() -> bool:
    """Whether numpy can be imported (checked once, without importing it)."""
    return importlib.util.find_spec("numpy") is not None


def _numpy() -> Any:
    try:
        import numpy
    except ImportError as exc:
        raise ImportError(NUMPY_HINT) from exc
    return numpy


def _block_b64(value: Any) -> str | None:
    if isinstance(value, ArrayBlock):
        return value.b64
    if isinstance(value, Mapping) and "b64" in value:
        return str(value["b64"])
    return None


def to_numpy(value: Any) -> np.ndarray:
    """An array value (list of numbers or float32 block) as a writable float32 numpy array."""
    np = _numpy()
    b64 = _block_b64(value)
    if b64 is not None:
        return np.frombuffer(base64.b64decode(b64), dtype="<f4").astype(np.float32)
    return np.asarray(value, dtype=np.float32)


def decode(value: Any) -> Any:
    """An array value for an evaluator: numpy if installed, else a list of floats."""
    if has_numpy():
        return to_numpy(value)
    b64 = _block_b64(value)
    if b64 is None:
        return [float(v) for v in value]
    numbers = array("f")
    numbers.frombytes(base64.b64decode(b64))
    if sys.byteorder == "big":
        numbers.byteswap()
    return numbers.tolist()


def _is_numpy_array(value: Any) -> bool:
    return type(value).__module__ == "numpy" and hasattr(value, "tobytes")


def encode_params(params: Mapping[str, Any]) -> dict[str, Any]:
    """`params` with numpy arrays turned into float32 blocks, ready to send."""
    out = dict(params)
    for name, value in params.items():
        if _is_numpy_array(value):
            data = _numpy().ascontiguousarray(value, dtype="<f4").reshape(-1).tobytes()
            out[name] = {"dtype": "float32", "b64": base64.b64encode(data).decode("ascii")}
    return out


def array_names(study: Study) -> list[str]:
    """The study's array parameters."""
    return [p.name for p in study.space if isinstance(p, ArrayParam)]


def array_query(study: Study) -> dict[str, str]:
    """Query parameters for requests returning this study's trials (blocks with numpy)."""
    if has_numpy() and array_names(study):
        return {"array_format": "b64"}
    return {}


def evaluator_params(params: Mapping[str, Any], study: Study) -> dict[str, Any]:
    """A trial's params as an evaluator takes them: arrays decoded (see `decode`)."""
    names = array_names(study)
    out = dict(params)
    for name in names:
        if name in out:
            out[name] = decode(out[name])
    return out


def summarize(params: Mapping[str, Any]) -> dict[str, Any]:
    """`params` with array values shown by their length (for reprs and logs)."""
    out = dict(params)
    for name, value in params.items():
        b64 = _block_b64(value)
        if b64 is not None:
            out[name] = f"<array[{len(base64.b64decode(b64)) // 4}]>"
        elif isinstance(value, list):
            out[name] = f"<array[{len(value)}]>"
    return out
