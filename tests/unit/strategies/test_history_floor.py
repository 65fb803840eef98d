"""Strategies that read only recent trials give the same run when the server leaves the
older finished trials out of their snapshots (`Strategy.history_floor`)."""

from __future__ import annotations

import json

import pytest

from asktell.strategies._population import LocalStudy, replay_study
from asktell.strategies.registry import get_strategy
from asktell_client.types import FloatParam

SPACE = [FloatParam(name=f"x{i}", low=-3.0, high=3.0) for i in range(3)]
FLOORED = ["cma-es", "zo-sgd", "zo-adam", "spsa", "cbo", "direct-search"]


def sphere(p) -> float:
    return sum((v - 0.5) ** 2 for v in p.values())


@pytest.mark.parametrize("name", FLOORED)
def test_a_floored_snapshot_gives_the_same_run(name):
    make = lambda: get_strategy(name)({})  # noqa: E731
    kwargs = dict(rounds=30, batch=4, seed=3, fail=0.1, lose=0.05, delay=0.3)
    full, final = replay_study(make, SPACE, sphere, **kwargs)
    floored, final_floored = replay_study(make, SPACE, sphere, floor=True, **kwargs)
    assert floored == full
    assert json.dumps(final_floored) == json.dumps(final)


@pytest.mark.parametrize("name", FLOORED)
def test_the_floor_leaves_old_trials_out(name):
    strategy = get_strategy(name)({})
    study = LocalStudy.over(SPACE, seed=1)
    state = None
    for _ in range(25):
        ids, proposal = study.ask(strategy, 4, state, floor=True)
        state = proposal.state
        for i in ids:
            study.tell(i, {"value": sphere(study.trials[i].params)})
    floor = strategy.history_floor(state, study.space)
    assert floor is not None and floor > 0
    assert len(study.snapshot(floor).completed) < len(study.snapshot().completed)


def test_without_a_usable_state_everything_is_loaded():
    strategy = get_strategy("cma-es")({})
    study = LocalStudy.over(SPACE)
    assert strategy.history_floor(None, study.space) is None
    assert strategy.history_floor({"version": -1}, study.space) is None
    assert get_strategy("gp")({}).history_floor({"anything": 1}, study.space) is None
