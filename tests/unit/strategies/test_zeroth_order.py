"""`zo-sgd`, `zo-adam` and `spsa`: antithetic pairs, step bookkeeping, determinism, progress."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest
from strategy_cases import MIXED_SPACE, StrategyCases, check_proposal, cube, make_snapshot

from asktell.core.encoding import SpaceEncoder
from asktell.strategies._population import LocalStudy, replay_study, run_study
from asktell.strategies.registry import get_strategy
from asktell.strategies.zeroth_order import SPSA, ZOSGD, ZOAdam, direction, scheduled
from asktell_client.types import (
    CategoricalParam,
    ConstraintSpec,
    FloatParam,
    IntParam,
    ObjectiveSpec,
)

FLOATS = [
    FloatParam(name="x", low=-2.0, high=2.0),
    FloatParam(name="lr", low=1e-4, high=1.0, log=True),
    FloatParam(name="z", low=0.0, high=1.0),
]
NAMES = ["zo-sgd", "zo-adam", "spsa"]


def bowl(p) -> float:
    """Minimum 0 at x = 0.5, lr = 1e-2, z = 0.3 (encoded coordinates differ per parameter)."""
    return (p["x"] - 0.5) ** 2 + (np.log10(p["lr"]) + 2) ** 2 / 4 + (p["z"] - 0.3) ** 2


class _FloatOnlyCases(StrategyCases):
    def test_returns_valid_points_in_mixed_space(self):
        snapshot = make_snapshot(MIXED_SPACE, 12, n_pending=1)
        with pytest.raises(ValueError, match=r"float parameters only|categorical"):
            self.make_strategy().suggest(snapshot, 3, None)

    def test_empty_study(self):
        snapshot = make_snapshot(FLOATS, 0)
        proposal = self.make_strategy().suggest(snapshot, 2, None)
        check_proposal(snapshot, proposal, 2)

    def test_valid_points_with_pending_and_failed(self):
        snapshot = make_snapshot(FLOATS, 12, n_pending=2, n_failed=1)
        proposal = self.make_strategy().suggest(snapshot, 5, None)
        check_proposal(snapshot, proposal, 5)
        keys = {snapshot.space.point_key(p) for p in proposal.points}
        keys |= {snapshot.space.point_key(t.params) for t in snapshot.pending}
        assert len(keys) == 7


class TestZOSGD(_FloatOnlyCases):
    strategy_name = "zo-sgd"


class TestZOAdam(_FloatOnlyCases):
    strategy_name = "zo-adam"


class TestSPSA(_FloatOnlyCases):
    strategy_name = "spsa"


def test_registered_and_not_inline():
    for name, cls in zip(NAMES, (ZOSGD, ZOAdam, SPSA), strict=True):
        assert get_strategy(name) is cls
        assert cls.inline is False
        assert cls.description


@pytest.mark.parametrize("name", NAMES)
def test_rejects_what_it_cannot_handle(name):
    strategy = get_strategy(name)()
    ints = make_snapshot([*FLOATS, IntParam(name="k", low=0, high=4)], 3)
    with pytest.raises(ValueError, match="float parameters only"):
        strategy.suggest(ints, 1, None)
    cats = make_snapshot([*FLOATS, CategoricalParam(name="c", choices=["a", "b"])], 3)
    with pytest.raises(ValueError, match="categorical"):
        strategy.suggest(cats, 1, None)
    two = make_snapshot(
        FLOATS,
        3,
        lambda p: {"a": 1.0, "b": 2.0},
        objectives=[ObjectiveSpec(name="a"), ObjectiveSpec(name="b")],
    )
    with pytest.raises(ValueError, match="single objective"):
        strategy.suggest(two, 1, None)
    constrained = make_snapshot(
        FLOATS,
        3,
        lambda p: {"value": 1.0, "c": 0.0},
        constraints=[ConstraintSpec(name="c", upper=1.0)],
    )
    with pytest.raises(ValueError, match="constraints"):
        strategy.suggest(constrained, 1, None)


def test_pairs_are_antithetic_around_the_iterate():
    snapshot = make_snapshot(FLOATS, 6, lambda p: {"value": bowl(p)})
    proposal = ZOSGD({"directions": 3}).suggest(snapshot, 6, None)
    X = cube(snapshot, proposal.points)
    x = np.asarray(proposal.state["x"])
    centers = (X[0::2] + X[1::2]) / 2
    assert np.allclose(centers, x, atol=1e-9)
    U = (X[0::2] - X[1::2]) / (2 * proposal.state["mu_t"])
    assert np.allclose(
        U @ U.T, 3 * np.eye(3), atol=1e-6
    )  # orthogonal, on the sphere of radius sqrt(d)


def test_directions_regenerate_and_are_orthogonal_in_blocks():
    U = np.stack([direction(5, 2, j, 4, "sphere", True) for j in range(4)])
    assert np.allclose(U @ U.T, 4 * np.eye(4))
    again = np.stack([direction(5, 2, j, 4, "sphere", True) for j in range(4)])
    assert np.array_equal(U, again)
    assert not np.allclose(direction(5, 3, 0, 4, "sphere", True), U[0])
    r = direction(5, 2, 0, 6, "rademacher", False)
    assert set(np.abs(r)) == {1.0}


def test_schedules():
    assert scheduled(1.0, "constant", 50, 10) == 1.0
    assert scheduled(1.0, "exponential", 10, 10) == pytest.approx(0.5)
    assert scheduled(1.0, "inverse_sqrt", 30, 10) == pytest.approx(0.5)
    assert scheduled(1.0, "cosine", 10, 10, floor=0.1) == pytest.approx(0.1)


def _ask(study, strategy, n, state):
    ids, proposal = study.ask(strategy, n, state)
    return ids, json.loads(json.dumps(proposal.state))


def test_a_step_is_handed_out_across_asks_and_taken_when_its_pairs_are_told():
    study = LocalStudy.over(FLOATS, seed=3)
    strategy = ZOSGD({"directions": 2})
    ids, state = _ask(study, strategy, 3, None)  # pair 0 (both sides), pair 1 (plus side)
    assert [p["out"] for p in state["pairs"]] == [2, 1]
    more, state = _ask(study, strategy, 1, state)  # the minus side of pair 1
    assert [p["out"] for p in state["pairs"]] == [2, 2] and state["t"] == 0
    _, state = _ask(study, strategy, 2, state)  # all out: another pair of the same step
    assert len(state["pairs"]) == 3 and state["t"] == 0
    for i in ids + more:
        study.tell(i, {"value": bowl(study.trials[i].params)})
    x0 = state["x"]
    _, state = _ask(study, strategy, 2, state)
    assert state["t"] == 1 and state["x"] != x0  # q pairs told: the extra pair is now stale
    assert len(state["pairs"]) == 1


def test_late_results_of_an_old_step_change_nothing():
    study = LocalStudy.over(FLOATS, seed=4)
    strategy = ZOAdam({"directions": 1})
    ids, state = _ask(study, strategy, 4, None)  # pair 0 and an extra pair 1
    for i in ids[:2]:
        study.tell(i, {"value": bowl(study.trials[i].params)})
    _, after = _ask(study, strategy, 2, state)
    assert after["t"] == 1
    without = strategy.suggest(study.snapshot(), 2, after)
    for i in ids[2:]:
        study.tell(i, {"value": 1e6})
    late = strategy.suggest(study.snapshot(), 2, after)
    assert late.points == without.points and late.state == without.state


def test_a_failed_side_drops_its_pair_once_everything_is_accounted_for():
    study = LocalStudy.over(FLOATS, seed=5)
    strategy = ZOSGD({"directions": 2})
    ids, state = _ask(study, strategy, 4, None)
    study.fail(ids[0])
    for i in ids[1:]:
        study.tell(i, {"value": bowl(study.trials[i].params)})
    _, state = _ask(study, strategy, 2, state)
    assert state["t"] == 1 and state["evaluations"] == 2


def test_all_pairs_failed_resamples_the_same_step():
    study = LocalStudy.over(FLOATS, seed=6)
    strategy = SPSA({"directions": 1})
    ids, state = _ask(study, strategy, 2, None)
    for i in ids:
        study.fail(i)
    new, state = _ask(study, strategy, 2, state)
    assert state["t"] == 0 and len(state["pairs"]) == 2
    key = study.space.point_key
    assert {key(study.trials[i].params) for i in new}.isdisjoint(
        {key(study.trials[i].params) for i in ids}
    )


def test_suggest_leaves_the_given_state_alone():
    study = LocalStudy.over(FLOATS, seed=7)
    strategy = ZOAdam()
    ids, state = _ask(study, strategy, 8, None)
    for i in ids:
        study.tell(i, {"value": bowl(study.trials[i].params)})
    before = copy.deepcopy(state)
    strategy.suggest(study.snapshot(), 3, state)
    assert state == before


@pytest.mark.parametrize("name", NAMES)
def test_a_new_worker_continues_exactly(name):
    def make():
        return get_strategy(name)({"directions": 2})

    kwargs = dict(rounds=30, batch=3, seed=11, fail=0.1, lose=0.1, delay=0.3)
    straight, final = replay_study(make, FLOATS, bowl, **kwargs)
    resumed, final_resumed = replay_study(make, FLOATS, bowl, restarts=[4, 9, 17, 18], **kwargs)
    every, final_every = replay_study(make, FLOATS, bowl, restarts=range(30), **kwargs)
    assert straight == resumed == every
    assert json.dumps(final) == json.dumps(final_resumed) == json.dumps(final_every)
    assert final["t"] > 3


@pytest.mark.parametrize("name", NAMES)
def test_beats_random_search_on_a_quadratic(name):
    budget = 400
    study = LocalStudy.over(FLOATS, seed=2)
    run_study(get_strategy(name)(), study, bowl, budget, batch=4)
    ours = min(study.values())
    rng = np.random.default_rng(0)
    points = SpaceEncoder(study.space).decode(rng.random((budget, 3)))
    random_best = min(bowl(p) for p in points)
    assert ours < random_best / 2


def test_a_lost_side_is_handed_out_again():
    study = LocalStudy.over(FLOATS, seed=8)
    strategy = ZOSGD({"directions": 2})
    ids, state = _ask(study, strategy, 4, None)
    study.drop(ids[1])  # e.g. a prefetched point that was never taken
    for i in ids[2:]:
        study.tell(i, {"value": bowl(study.trials[i].params)})
    again, state = _ask(study, strategy, 1, state)
    assert study.trials[again[0]].params == study.trials[ids[1]].params
    assert state["t"] == 0
