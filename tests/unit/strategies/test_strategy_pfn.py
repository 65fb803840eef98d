"""The `pfn` strategy on a tiny PFN trained in seconds: plumbing only, never quality."""

from __future__ import annotations

import tempfile
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
from strategy_cases import (
    BOX_2D,
    MIXED_SPACE,
    StrategyCases,
    check_proposal,
    cube,
    make_snapshot,
    with_pending,
)

from asktell.strategies.base import Strategy
from asktell.strategies.pfn import PFNStrategy
from asktell.strategies.registry import get_strategy
from asktell.surrogates.pfn.model import PFNConfig
from asktell.surrogates.pfn.surrogate import cached_pfn
from asktell.surrogates.pfn.train import TrainConfig, train
from asktell_client.types import (
    ConstraintSpec,
    Direction,
    FloatParam,
    IntParam,
    ObjectiveSpec,
    StudySettings,
)

TINY = PFNConfig(
    max_dim=6, max_ctx=24, seq_len=32, emsize=32, nhead=2, nlayers=2, nhid=64, num_buckets=64
)


@lru_cache(maxsize=1)
def tiny_checkpoint() -> str:
    out = Path(tempfile.mkdtemp(prefix="pfn-test-"))
    train(TINY, TrainConfig(steps=40, batch_size=8, lr=3e-3, border_batches=4), out)
    return str(out)


def pfn(**options) -> Strategy:
    return PFNStrategy({"checkpoint": tiny_checkpoint(), **options})


def two_objectives(p):
    return {"f1": (p["x"] - 0.2) ** 2, "f2": (p["y"] - 0.7) ** 2, "g": p["x"] + p["y"]}


class TestPFN(StrategyCases):
    strategy_name = "pfn"

    def make_strategy(self) -> Strategy:
        return pfn()

    def test_registered_and_experimental(self):
        assert get_strategy("pfn") is PFNStrategy
        assert "experimental" in PFNStrategy.description.lower()


def test_uses_the_model_with_enough_data():
    snapshot = make_snapshot(MIXED_SPACE, 12)
    proposal = pfn().suggest(snapshot, 2, None)
    check_proposal(snapshot, proposal, 2)
    assert proposal.strategies == ["pfn", "pfn"]
    assert proposal.info["acquisition"] == "LogEI"
    assert proposal.info["candidates_scored"] >= 1000
    assert proposal.info["experimental"] is True


def test_suggesting_trains_nothing():
    model = cached_pfn(tiny_checkpoint(), "cpu")
    before = {k: v.clone() for k, v in model.state_dict().items()}
    pfn().suggest(make_snapshot(BOX_2D, 10), 2, None)
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_pending_points_change_the_suggestion_and_are_avoided():
    snapshot = make_snapshot(BOX_2D, 10)
    first = pfn().suggest(snapshot, 1, None)
    busy = with_pending(snapshot, first.points * 3)
    second = pfn().suggest(busy, 3, None)
    check_proposal(busy, second, 3)
    X_first, X_second = cube(busy, first.points), cube(busy, second.points)
    assert np.linalg.norm(X_second - X_first, axis=-1).min() > 1e-2
    assert len({busy.space.point_key(p) for p in second.points}) == 3


def test_constrained_study():
    constraint = [ConstraintSpec(name="value", upper=0.3)]
    snapshot = make_snapshot(BOX_2D, 12, constraints=constraint)
    proposal = pfn().suggest(snapshot, 2, None)
    check_proposal(snapshot, proposal, 2)
    assert proposal.info["acquisition"] == "LogEI+LogPF"
    infeasible = [ConstraintSpec(name="value", upper=-1.0)]
    snapshot = make_snapshot(BOX_2D, 12, constraints=infeasible)
    proposal = pfn().suggest(snapshot, 1, None)
    check_proposal(snapshot, proposal, 1)
    assert proposal.info["acquisition"] == "LogPF"


def test_several_objectives_are_scalarized():
    objectives = [
        ObjectiveSpec(name="f1"),
        ObjectiveSpec(name="f2", direction=Direction.maximize),
    ]
    snapshot = make_snapshot(
        BOX_2D,
        10,
        two_objectives,
        objectives=objectives,
        constraints=[ConstraintSpec(name="g", upper=1.5)],
    )
    proposal = pfn().suggest(snapshot, 2, None)
    check_proposal(snapshot, proposal, 2)
    assert proposal.strategies == ["pfn", "pfn"]
    assert "scalarization" in proposal.info


def test_long_history_is_subsampled_and_reported():
    snapshot = make_snapshot(BOX_2D, 40, n_pending=2)
    proposal = pfn().suggest(snapshot, 2, None)
    check_proposal(snapshot, proposal, 2)
    assert "subsampled" in proposal.info
    assert proposal.info["n_context"] <= TINY.max_ctx


def test_noisy_small_discrete_space_returns_distinct_points():
    space = [IntParam(name="i", low=0, high=3), IntParam(name="j", low=0, high=2)]
    snapshot = make_snapshot(
        space,
        6,
        lambda p: {"value": (p["i"] - 2) ** 2 + p["j"]},
        settings=StudySettings(seed=3, noisy=True),
    )
    proposal = pfn().suggest(snapshot, 3, None)
    check_proposal(snapshot, proposal, 3)
    assert len({snapshot.space.point_key(p) for p in proposal.points}) == 3


def test_falls_back_to_sobol_when_it_cannot_use_the_model():
    wide = [FloatParam(name=f"x{i}", low=0.0, high=1.0) for i in range(TINY.max_dim + 1)]
    snapshot = make_snapshot(wide, 10)
    proposal = pfn().suggest(snapshot, 2, None)
    check_proposal(snapshot, proposal, 2)
    assert proposal.strategies == ["sobol", "sobol"]
    assert "at most" in proposal.info["fallback"]
    missing = PFNStrategy({"checkpoint": "/nonexistent/pfn"})
    proposal = missing.suggest(make_snapshot(BOX_2D, 10), 1, None)
    assert proposal.strategies == ["sobol"]
    assert "checkpoint unavailable" in proposal.info["fallback"]
