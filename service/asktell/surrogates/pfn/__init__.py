"""Prior-data fitted networks (PFNs): GP-prior-trained transformers used as surrogates."""

from __future__ import annotations

from pathlib import Path

__all__ = ["DEFAULT_CHECKPOINT"]

DEFAULT_CHECKPOINT = Path(__file__).parent / "checkpoints"
"""The shipped checkpoint: `model.safetensors` and `config.json`, described in `README.md`."""
