"""Choice of the torch device a worker computes on."""

from __future__ import annotations

import re

from asktell.core.errors import InvalidInput

_PATTERN = re.compile(r"^(auto|cpu|cuda(:\d+)?)$")


def limit_threads(threads: int | None) -> None:
    """Cap torch's intra-op threads (the embedded worker shares its CPU with the API)."""
    if threads:
        import torch

        torch.set_num_threads(threads)


def resolve_device(requested: str = "auto") -> str:
    """'auto' → 'cuda' when a GPU is visible, else 'cpu'; 'cuda[:i]' must exist."""
    if not _PATTERN.match(requested):
        raise InvalidInput("must be auto, cpu, cuda or cuda:<index>", field="device")
    if requested == "cpu":
        return "cpu"
    import torch

    if requested == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if not torch.cuda.is_available():
        raise InvalidInput("CUDA was requested but no GPU is visible", field="device")
    index = int(requested.split(":")[1]) if ":" in requested else 0
    if index >= torch.cuda.device_count():
        raise InvalidInput(f"no CUDA device {index}", field="device")
    return requested
