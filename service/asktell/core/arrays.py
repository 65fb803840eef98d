"""Array parameter values: checks, the stored form, and the two wire formats.

A stored array value is its `ArrayBlock` form, `{"dtype": "float32", "b64": ...}`:
about a quarter of the size of a JSON list of the same numbers, serialized and
hashed as one string (so point keys stay cheap), and decoded with one
`np.frombuffer`. Responses carry it as that block or, by default, as a list.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from typing import Any

import numpy as np
from pydantic import ValidationError

from asktell.core.errors import InvalidInput
from asktell_client.types import ArrayBlock, ArrayFormat, ArrayParam

__all__ = [
    "DTYPE",
    "as_block",
    "check_array",
    "format_params",
    "is_block",
    "summarize_params",
    "to_numpy",
]

DTYPE = np.dtype("<f4")


def is_block(v: Any) -> bool:
    """Whether `v` is (meant as) an array value in block form: any object is."""
    return isinstance(v, ArrayBlock | dict)


def as_block(x: np.ndarray) -> dict[str, str]:
    """The stored form of a float32 vector."""
    data = np.ascontiguousarray(x, dtype=DTYPE).tobytes()
    return {"dtype": "float32", "b64": base64.b64encode(data).decode("ascii")}


def to_numpy(v: Any) -> np.ndarray:
    """A stored or already checked array value → float32 vector (no checks)."""
    if isinstance(v, ArrayBlock):
        v = {"b64": v.b64}
    if isinstance(v, dict):
        return np.frombuffer(base64.b64decode(v["b64"]), dtype=DTYPE)
    return np.asarray(v, dtype=DTYPE)


def check_array(p: ArrayParam, v: Any, field: str) -> dict[str, str]:
    """Validate a list or block against `p`; return the stored form."""
    if isinstance(v, list) and len(v) != p.length:  # before looking at a long list's items
        raise InvalidInput(f"must have {p.length} numbers, got {len(v)}", field=field)
    x = _from_block(v, field) if is_block(v) else _from_list(v, field)
    if x.shape != (p.length,):
        raise InvalidInput(f"must have {p.length} numbers, got {x.size}", field=field)
    finite = np.isfinite(x)
    if not finite.all():
        raise InvalidInput(f"element {int(np.argmin(finite))} is not finite", field=field)
    x32 = x.astype(DTYPE)
    low, high = DTYPE.type(p.low), DTYPE.type(p.high)
    outside = (x32 < low) | (x32 > high)
    if outside.any():
        i = int(np.argmax(outside))
        raise InvalidInput(
            f"element {i} ({float(x32[i])}) is outside [{p.low}, {p.high}]", field=field
        )
    return as_block(x32)


def _from_block(v: Any, field: str) -> np.ndarray:
    block = v if isinstance(v, ArrayBlock) else _parse_block(v, field)
    try:
        data = base64.b64decode(block.b64, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInput("b64 is not valid base64", field=f"{field}.b64") from None
    if len(data) % DTYPE.itemsize:
        raise InvalidInput(
            f"b64 holds {len(data)} bytes, not a whole number of float32", field=f"{field}.b64"
        )
    return np.frombuffer(data, dtype=DTYPE)


def _parse_block(v: dict, field: str) -> ArrayBlock:
    try:
        return ArrayBlock.model_validate(v)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise InvalidInput(
            f'{first["msg"]} (an array block is {{"dtype": "float32", "b64": "..."}})',
            field=f"{field}.{where}" if where else field,
        ) from None


def _from_list(v: Any, field: str) -> np.ndarray:
    if not isinstance(v, list):
        raise InvalidInput("must be a list of numbers or an array block", field=field)
    if not set(map(type, v)) <= {int, float}:
        raise InvalidInput("must be a list of numbers", field=field)
    x = np.array(v)
    if x.dtype.kind not in "if":  # ints too large for any number type
        raise InvalidInput("must be a list of numbers", field=field)
    return x.astype(np.float64, copy=False).reshape(-1)


def format_params(params: Mapping[str, Any], fmt: ArrayFormat) -> Mapping[str, Any]:
    """`params` with array values as lists (`list`) or left as blocks (`b64`)."""
    if fmt is ArrayFormat.b64 or not any(isinstance(v, dict) for v in params.values()):
        return params
    return {
        k: to_numpy(v).astype(np.float64).tolist() if isinstance(v, dict) else v
        for k, v in params.items()
    }


def summarize_params(params: Mapping[str, Any]) -> Mapping[str, Any]:
    """`params` with each array value replaced by a one-line summary (for tables)."""
    if not any(isinstance(v, dict) for v in params.values()):
        return params
    return {k: _summary(to_numpy(v)) if isinstance(v, dict) else v for k, v in params.items()}


def _summary(x: np.ndarray) -> str:
    if not x.size:
        return "float32[0]"
    return (
        f"float32[{x.size}] min {float(x.min()):.4g} mean {float(x.mean()):.4g} "
        f"max {float(x.max()):.4g}"
    )
