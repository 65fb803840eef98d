"""How many encoded dimensions a model-based strategy takes, and the refusal past it.

An array parameter of length L encodes to L dimensions, so one parameter can
put a study far beyond what a surrogate model fits in reasonable time.
"""

from __future__ import annotations

from asktell.core.encoding import SpaceEncoder
from asktell_client.types import ArrayParam

__all__ = ["HIGH_DIM_STRATEGIES", "MAX_MODEL_DIM", "MAX_PFN_DIM", "check_dimension"]

MAX_MODEL_DIM = 1000  # gp, ibnn, bnn-ensemble, bnn-hmc, dkl
MAX_PFN_DIM = 100  # pfn checkpoints take far fewer; past theirs it answers with Sobol points
HIGH_DIM_STRATEGIES = "cma-es, zo-sgd, zo-adam, spsa, cbo, random or sobol"


def check_dimension(encoder: SpaceEncoder, name: str, max_dim: int) -> None:
    """Raise a ValueError when the encoded space has more than `max_dim` dimensions."""
    if encoder.d <= max_dim:
        return
    arrays = [p for p in encoder.params if isinstance(p, ArrayParam)]
    largest = max(arrays, key=lambda p: p.length, default=None)
    detail = f" (array {largest.name!r} alone has {largest.length})" if largest else ""
    raise ValueError(
        f"{name} handles at most {max_dim} encoded dimensions; this space has "
        f"{encoder.d}{detail}. Use {HIGH_DIM_STRATEGIES}."
    )
