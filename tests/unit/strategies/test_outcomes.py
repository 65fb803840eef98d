"""Outcome transforms before the fit: winsorized or warped objectives, bilog constraint slacks."""

from __future__ import annotations

import pytest
import torch
from strategy_cases import BOX_2D, make_snapshot

from asktell.strategies._outcomes import bilog, half_rank_warp, winsorize, yeo_johnson_warp
from asktell.strategies.gp import GP
from asktell_client.types import ConstraintSpec, Direction, ObjectiveSpec


def test_winsorize_raises_only_the_far_bad_tail():
    y = torch.tensor([[5.0], [4.0], [3.0], [2.0], [1.0], [0.0], [-1e6]], dtype=torch.double)
    out = winsorize(y)
    q1, q3 = 0.0, 4.0  # "lower" 25th and "higher" 75th percentiles of the column
    fence = q1 - 1.5 * (q3 - q1)
    assert out[-1, 0] == fence
    assert torch.equal(out[:-1], y[:-1])
    assert out.max() == y.max()


def test_winsorize_columns_are_independent_and_thresholds_lower_the_fence():
    y = torch.tensor(
        [[1.0, 1.0], [2.0, 2.0], [3.0, 3.0], [4.0, 4.0], [-1e3, -1e3]], dtype=torch.double
    )
    out = winsorize(y, [None, -50.0])  # q1 = 1, q3 = 3
    assert out[-1, 0] == 1.0 - 1.5 * (3.0 - 1.0)
    assert out[-1, 1] == -50.0 - 1.5 * (3.0 + 50.0)  # the fence is below min(q1, threshold)
    assert torch.equal(out[:-1], y[:-1])


def test_winsorize_leaves_small_or_degenerate_columns_alone():
    few = torch.tensor([[0.0], [1.0], [-1e9]], dtype=torch.double)
    assert torch.equal(winsorize(few), few)
    flat = torch.tensor([[1.0]] * 6 + [[-5.0]], dtype=torch.double)  # the fence is 1.0
    assert torch.equal(winsorize(flat), flat)


SKEWED = -torch.tensor(
    [[1e-3], [0.5], [0.7], [2.0], [3.0], [10.0], [100.0], [1e4]], dtype=torch.double
)  # larger is better: a few good values and a far bad tail


@pytest.mark.parametrize("warp", [half_rank_warp, yeo_johnson_warp])
def test_objective_warps_keep_the_order_and_spread_the_good_values(warp):
    out = warp(SKEWED)
    assert bool((out[:, 0].diff() < 0).all())  # strictly increasing map
    share = lambda y: float((y[0] - y[2]) / (y.max() - y.min()))  # noqa: E731
    assert share(out[:, 0]) > 10 * share(SKEWED[:, 0])  # best vs third best, of the range


@pytest.mark.parametrize("warp", [half_rank_warp, yeo_johnson_warp])
def test_objective_warps_leave_small_or_flat_columns_alone(warp):
    few = torch.tensor([[0.0], [1.0], [-1e9]], dtype=torch.double)
    assert torch.equal(warp(few), few)
    flat = torch.ones(6, 1, dtype=torch.double)
    assert torch.equal(warp(flat), flat)


def test_half_rank_warp_keeps_the_good_half_and_ranks_the_bad_half():
    y = torch.tensor([[5.0], [4.0], [3.0], [2.0], [1.0], [0.0], [-1e6]], dtype=torch.double)
    out = half_rank_warp(y, log_offset=1.0 + 1e-9)[:, 0]  # an offset near 1: almost no log warp
    affine = (out[:4] - out[3]) / (out[0] - out[3])  # the good half, median 2, up to scale
    assert torch.allclose(affine, torch.tensor([1.0, 2 / 3, 1 / 3, 0.0]).to(out), atol=1e-6)
    gap = float(out[0] - out[3])
    assert float(out[3] - out[-1]) < 3 * gap  # the -1e6 outlier is a low rank, not a far value


def test_bilog_keeps_sign_and_order():
    c = torch.tensor([-1e6, -3.0, -1e-3, 0.0, 1e-3, 2.0, 1e8], dtype=torch.double)
    out = bilog(c)
    assert torch.equal(torch.sign(out), torch.sign(c))
    assert bool((out.diff() > 0).all())
    assert abs(float(out[-1]) - 18.42) < 0.01


class _Recording(GP):
    """`gp` that keeps the data it was fit on."""

    def fit(self, data, **kwargs):
        self.seen = data
        return super().fit(data, **kwargs)


def _outlier(p):
    x, y = p["x"], p["y"]
    value = (x - 0.3) ** 2 + (y - 0.7) ** 2
    return {"value": value + (1e6 if x > 0.9 else 0.0), "load": x + y - 1.0}


def test_pipeline_fits_on_transformed_outcomes_as_configured():
    snapshot = make_snapshot(
        BOX_2D,
        30,
        _outlier,
        objectives=[ObjectiveSpec(name="value", direction=Direction.minimize)],
        constraints=[ConstraintSpec(name="load", upper=0.5)],
    )
    raw = [t.values["value"] for t in snapshot.completed]
    assert max(raw) > 1e5  # the draw has an outlier to clip
    plain = _Recording({"bilog_constraints": False, "objective_warp": "none"})
    robust = _Recording({"winsorize": True, "objective_warp": "none"})  # bilog is a default
    plain.suggest(snapshot, 1, None)
    proposal = robust.suggest(snapshot, 1, None)
    assert proposal.strategies == ["gp"]
    assert float(-plain.seen.Y.min()) > 1e5
    assert float(-robust.seen.Y.min()) < 10
    assert torch.equal(robust.seen.Y.max(), plain.seen.Y.max())
    assert torch.equal(robust.seen.feasible, plain.seen.feasible)
    assert torch.allclose(robust.seen.C, bilog(plain.seen.C))


@pytest.mark.parametrize("warp", ["half-rank", "yeo-johnson"])
def test_pipeline_warps_the_objective_when_asked(warp):
    snapshot = make_snapshot(BOX_2D, 30, _outlier)
    plain, warped = _Recording({"objective_warp": "none"}), _Recording({"objective_warp": warp})
    plain.suggest(snapshot, 1, None)
    proposal = warped.suggest(snapshot, 1, None)
    assert proposal.strategies == ["gp"]
    assert int(warped.seen.Y.argmax()) == int(plain.seen.Y.argmax())
    assert float(warped.seen.Y.max() - warped.seen.Y.min()) < 10  # the outlier no longer sets it


def test_surrogate_scoring_fits_on_the_candidates_transformed_outcomes():
    from asktell.strategies.bnn_selection import prequential_scores

    snapshot = make_snapshot(
        BOX_2D, 8, _outlier, constraints=[ConstraintSpec(name="load", upper=0.5)]
    )
    candidate = _Recording()
    scores = prequential_scores(snapshot, {"gp": candidate}, window=1)
    assert scores["gp"] is not None
    slack = torch.tensor([[t.values["load"] - 0.5] for t in snapshot.completed[:7]])
    assert torch.allclose(candidate.seen.C, bilog(slack.to(candidate.seen.C)))


def test_surrogate_scoring_warps_the_held_out_value_with_its_prefix():
    from asktell.core.encoding import SpaceEncoder
    from asktell.strategies._model_based import training_data
    from asktell.strategies.bnn_selection import prequential_scores

    snapshot = make_snapshot(BOX_2D, 8, _outlier)
    warped, plain = _Recording(), _Recording({"objective_warp": "none"})  # the default warps
    scores = prequential_scores(snapshot, {"warped": warped, "plain": plain}, window=1)
    Y = training_data(snapshot, SpaceEncoder(snapshot.space)).Y
    assert torch.allclose(warped.seen.Y, yeo_johnson_warp(Y)[:7].to(warped.seen.Y))
    assert torch.equal(plain.seen.Y, Y[:7].to(plain.seen.Y))
    assert scores["warped"] is not None and scores["plain"] is not None
    assert scores["warped"] != scores["plain"]
