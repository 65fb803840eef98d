"""`cbo`: consensus weights, generations of particles, determinism, progress."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest
from strategy_cases import MIXED_SPACE, StrategyCases

from asktell.core.encoding import SpaceEncoder
from asktell.strategies._population import LocalStudy, replay_study, run_study
from asktell.strategies.cbo import CBO, consensus
from asktell.strategies.registry import get_strategy
from asktell_client.types import CategoricalParam, FloatParam, IntParam

FLOATS = [FloatParam(name=f"x{i}", low=-3.0, high=3.0) for i in range(3)]


def sphere(p) -> float:
    return sum((v - 1.0) ** 2 for v in p.values())


class TestCBO(StrategyCases):
    strategy_name = "cbo"

    def test_registered(self):
        assert get_strategy("cbo") is CBO
        assert CBO.inline is False and CBO.description


def test_consensus_weights_do_not_overflow_and_favour_the_best():
    X = np.array([[0.0, 0.0], [1.0, 1.0], [0.5, 0.2]])
    f = np.array([1e300, -1e300, 0.0])
    v = consensus(X, f, alpha=1e3)
    assert np.all(np.isfinite(v)) and np.allclose(v, [1.0, 1.0])
    assert np.allclose(consensus(X, np.zeros(3), alpha=50.0), X.mean(axis=0))


def test_generation_updates_once_the_swarm_is_settled():
    study = LocalStudy.over(FLOATS, seed=1)
    strategy = CBO({"particles": 6})
    ids, proposal = study.ask(strategy, 4, None)
    state = proposal.state
    for i in ids:
        study.tell(i, {"value": sphere(study.trials[i].params)})
    more, proposal = study.ask(strategy, 4, state)  # 2 particles left, then 2 extra ones
    state = proposal.state
    assert state["generation"] == 0 and len(state["swarm"]) == 8
    study.tell(more[0], {"value": sphere(study.trials[more[0]].params)})
    study.fail(more[1])
    _, proposal = study.ask(strategy, 3, state)
    state = proposal.state
    assert state["generation"] == 1 and len(state["swarm"]) == 6
    assert state["consensus"] is not None


def test_particles_that_round_to_the_same_point_share_it():
    params = [IntParam(name="k", low=0, high=3), CategoricalParam(name="c", choices=["a", "b"])]
    study = LocalStudy.over(params, seed=2)
    state = run_study(CBO({"particles": 10}), study, lambda p: float(p["k"]), 40, batch=3)
    assert state["generation"] >= 3
    for t in study.trials:
        assert study.space.validate_params(t.params) == t.params


def test_suggest_leaves_the_given_state_alone():
    study = LocalStudy.over(FLOATS, seed=3)
    state = run_study(CBO(), study, sphere, 30, batch=7)
    before = copy.deepcopy(state)
    CBO().suggest(study.snapshot(), 5, state)
    assert state == before


@pytest.mark.parametrize("params", [FLOATS, MIXED_SPACE], ids=["floats", "mixed"])
def test_a_new_worker_continues_exactly(params):
    def fn(p):
        return sum(float(v) ** 2 for v in p.values() if isinstance(v, (int, float)))

    def make():
        return CBO({"particles": 8})

    kwargs = dict(rounds=40, batch=3, seed=4, fail=0.1, lose=0.1, delay=0.3)
    straight, final = replay_study(make, params, fn, **kwargs)
    resumed, final_resumed = replay_study(make, params, fn, restarts=[1, 7, 8, 33], **kwargs)
    every, final_every = replay_study(make, params, fn, restarts=range(40), **kwargs)
    assert straight == resumed == every
    assert json.dumps(final) == json.dumps(final_resumed) == json.dumps(final_every)
    assert final["generation"] > 5


def test_beats_random_search_on_a_sphere():
    budget = 600
    study = LocalStudy.over(FLOATS, seed=5)
    run_study(CBO(), study, sphere, budget, batch=20)
    points = SpaceEncoder(study.space).decode(np.random.default_rng(0).random((budget, 3)))
    assert min(study.values()) < min(sphere(p) for p in points) / 5


def test_a_space_with_few_points_never_stalls():
    params = [IntParam(name="k", low=0, high=2), CategoricalParam(name="c", choices=["a", "b"])]
    study = LocalStudy.over(params, seed=6)
    run_study(CBO(), study, lambda p: float(p["k"]), 60, batch=4)
    assert len(study.trials) == 60 and min(study.values()) == 0.0


def test_a_lost_particle_is_handed_out_again():
    study = LocalStudy.over(FLOATS, seed=7)
    strategy = CBO({"particles": 4})
    ids, proposal = study.ask(strategy, 4, None)
    study.drop(ids[3])
    for i in ids[:3]:
        study.tell(i, {"value": sphere(study.trials[i].params)})
    again, proposal = study.ask(strategy, 1, proposal.state)
    assert study.trials[again[0]].params == study.trials[ids[3]].params
    assert proposal.state["generation"] == 0
