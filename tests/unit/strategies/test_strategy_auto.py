"""The `auto` strategy: Sobol warm-up (center first), then `gp`."""

from __future__ import annotations

import pytest
from strategy_cases import BOX_2D, StrategyCases, check_proposal, make_snapshot, with_pending

from asktell.strategies.auto import Auto, warmup_size
from asktell.strategies.registry import get_strategy
from asktell_client.types import CategoricalParam, FloatParam, IntParam, StudySettings


class TestAuto(StrategyCases):
    strategy_name = "auto"
    options = {"init_trials": 5}

    def test_registered(self):
        assert get_strategy("auto") is Auto
        assert Auto.inline is False


@pytest.mark.parametrize(("budget", "expected"), [(None, 5), (500, 5), (20, 5), (3, 3)])
def test_warmup_size(budget, expected):
    assert warmup_size(budget) == expected


def test_warmup_is_five_points_in_ten_dimensions():
    space = [FloatParam(name=f"x{i}", low=0.0, high=1.0) for i in range(10)]
    assert Auto().suggest(make_snapshot(space, 4), 1, None).strategies == ["sobol"]
    assert Auto().suggest(make_snapshot(space, 5), 1, None).strategies == ["gp"]


def test_first_point_is_the_center():
    space = [
        FloatParam(name="x", low=0.0, high=10.0),
        IntParam(name="k", low=1, high=5),
        CategoricalParam(name="c", choices=["a", "b", "c"]),
    ]
    snapshot = make_snapshot(space, 0)
    proposal = Auto().suggest(snapshot, 3, None)
    check_proposal(snapshot, proposal, 3)
    assert proposal.points[0] == {"x": 5.0, "k": 3, "c": "b"}
    assert proposal.strategies == ["sobol"] * 3
    assert proposal.info["phase"] == "warm-up"


def test_warmup_continues_the_sequence_without_repeats():
    snapshot = make_snapshot(BOX_2D, 0)
    first = Auto().suggest(snapshot, 2, None)
    second = Auto().suggest(with_pending(snapshot, first.points), 2, first.state)
    at_once = Auto().suggest(snapshot, 4, None)
    assert first.points + second.points == at_once.points
    assert len({tuple(p.values()) for p in at_once.points}) == 4


def test_warmup_then_gp():
    snapshot = make_snapshot(BOX_2D, 6)
    proposal = Auto().suggest(snapshot, 1, None)
    assert proposal.strategies == ["gp"]
    assert proposal.info["phase"] == "gp"
    assert proposal.state["version"] == 1 and proposal.state["gp"]["version"] == 1


def test_batch_across_the_end_of_warmup():
    snapshot = make_snapshot(BOX_2D, 4)
    proposal = Auto({"init_trials": 5}).suggest(snapshot, 3, None)
    check_proposal(snapshot, proposal, 3)
    assert proposal.strategies == ["sobol", "gp", "gp"]


def test_gp_options_are_checked_and_passed():
    with pytest.raises(ValueError):
        Auto({"gp": {"num_restarts": 0}})
    snapshot = make_snapshot(BOX_2D, 30, settings=StudySettings(budget=20))
    proposal = Auto({"gp": {"max_history": 10}}).suggest(snapshot, 1, None)
    assert proposal.info["n_fit"] == 10


def test_tiny_space_repeats_only_when_exhausted():
    snapshot = make_snapshot([CategoricalParam(name="c", choices=["a", "b"])], 0)
    proposal = Auto().suggest(snapshot, 3, None)
    check_proposal(snapshot, proposal, 3)
    assert {p["c"] for p in proposal.points[:2]} == {"a", "b"}


def test_gp_searches_near_the_best_point_only_in_continuous_spaces():
    proposal = Auto().suggest(make_snapshot(BOX_2D, 8), 1, None)
    assert proposal.info["search_box_side"] == 0.2
    mixed = [*BOX_2D, IntParam(name="k", low=1, high=5)]
    assert "search_box_side" not in Auto().suggest(make_snapshot(mixed, 8), 1, None).info
    for options in ({"trust_region": None}, {"gp": {"trust_region": None}}):
        proposal = Auto(options).suggest(make_snapshot(BOX_2D, 8), 1, None)
        assert "search_box_side" not in proposal.info
    proposal = Auto({"gp": {"trust_region": 0.5}}).suggest(make_snapshot(BOX_2D, 8), 1, None)
    assert proposal.info["search_box_side"] == 0.5
