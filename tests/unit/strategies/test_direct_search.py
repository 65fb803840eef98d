"""`direct-search`: poll on the mesh, expansion and refinement, covering step, hints."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest
from strategy_cases import MIXED_SPACE, StrategyCases, check_proposal, make_snapshot

from asktell.core.encoding import SpaceEncoder
from asktell.strategies._population import LocalStudy, replay_study, run_study
from asktell.strategies.direct_search import DirectSearch, hint_direction
from asktell.strategies.registry import get_strategy
from asktell_client.types import CategoricalParam, FloatParam, IntParam

FLOATS = [
    FloatParam(name="x", low=-2.0, high=2.0),
    FloatParam(name="y", low=0.0, high=1.0),
    FloatParam(name="lr", low=1e-4, high=1.0, log=True),
]
MIXED = [*FLOATS[:2], IntParam(name="k", low=1, high=9, step=2)]
OPTIMUM = {"x": 0.5, "y": 0.3, "lr": 1e-2, "k": 5}


def bowl(p) -> float:
    value = (p["x"] - 0.5) ** 2 + (p["y"] - 0.3) ** 2
    if "lr" in p:
        value += (np.log10(p["lr"]) + 2) ** 2 / 16
    if "k" in p:
        value += (p["k"] - 5) ** 2 / 64
    return value


class TestDirectSearch(StrategyCases):
    strategy_name = "direct-search"

    def test_returns_valid_points_in_mixed_space(self):
        with pytest.raises(ValueError, match="categorical"):
            self.make_strategy().suggest(make_snapshot(MIXED_SPACE, 12), 3, None)
        snapshot = make_snapshot(MIXED, 12, n_pending=1, n_failed=1)
        proposal = self.make_strategy().suggest(snapshot, 3, None)
        check_proposal(snapshot, proposal, 3)
        assert len({snapshot.space.point_key(p) for p in proposal.points}) == 3

    def test_empty_study(self):
        snapshot = make_snapshot(MIXED, 0)
        check_proposal(snapshot, self.make_strategy().suggest(snapshot, 2, None), 2)


def test_registered():
    assert get_strategy("direct-search") is DirectSearch
    assert DirectSearch.inline is False and DirectSearch.description


def _first_wave(options=None, n=8):
    snapshot = make_snapshot(FLOATS, 10, lambda p: {"value": bowl(p)})
    proposal = DirectSearch(options).suggest(snapshot, n, None)
    return snapshot, proposal


def test_first_wave_polls_2n_mesh_points_around_the_best_trial_then_covers():
    snapshot, proposal = _first_wave({"speculative": False})
    state = proposal.state
    roles = [p["role"] for p in state["wave"]]
    polls = roles.count("poll")
    assert 4 <= polls <= 6  # ±H e_i, except those that leave the cube
    assert roles == ["poll"] * polls + ["cover"] * (8 - polls)  # covering, then extras
    x = np.asarray(state["x"])
    best = min(snapshot.completed, key=lambda t: t.values["value"])
    assert np.allclose(SpaceEncoder(snapshot.space).encode([best.params])[0], x)
    moves = np.array([p["x"] for p in state["wave"][:polls]]) - x
    mesh = 0.25**2
    assert np.allclose(np.abs(moves).max(axis=1), 0.25)
    assert np.allclose(moves / mesh, np.round(moves / mesh))
    assert np.linalg.matrix_rank(moves) == 3
    for p in state["wave"][polls:]:
        assert np.linalg.norm(np.asarray(p["x"]) - x) <= 0.1 + 1e-12


def _settle_wave(study, strategy, state, value):
    ids, proposal = study.ask(strategy, len(state["wave"]) if state else 7, state)
    for i in ids:
        study.tell(i, {"value": value(study.trials[i].params)})
    return proposal.state


def test_failure_refines_and_success_expands_the_poll():
    study = LocalStudy.over(FLOATS, seed=1)
    strategy = DirectSearch({"covering": False, "speculative": False})
    ids, proposal = study.ask(strategy, 1, None)  # the centre
    study.tell(ids[0], {"value": 0.0})
    ids, proposal = study.ask(strategy, 6, proposal.state)
    assert proposal.state["ell"] == 0
    for i in ids:
        study.tell(i, {"value": 1.0})  # no poll point improves
    ids, proposal = study.ask(strategy, 6, proposal.state)
    assert proposal.state["ell"] == 1 and proposal.info["poll_size"] == 0.125
    study.tell(ids[0], {"value": -1.0})
    _, proposal = study.ask(strategy, 1, proposal.state)  # opportunistic: first improvement
    assert proposal.state["ell"] == 0 and proposal.state["f"] == [0.0, -1.0]


def test_hint_is_searched_first_and_can_change_between_asks():
    snapshot = make_snapshot(FLOATS, 10, lambda p: {"value": bowl(p)})
    proposal = DirectSearch({"hint": {"x": 1.0}, "initial_poll_size": 0.05}).suggest(
        snapshot, 3, None
    )
    state = proposal.state
    assert [p["role"] for p in state["wave"][:3]] == ["hint"] * 3
    X = SpaceEncoder(snapshot.space).encode(proposal.points)
    moves = X - np.asarray(state["x"])
    assert np.allclose(moves[:, 1:], 0) and np.all(np.diff(moves[:, 0]) > 0)
    turned = DirectSearch({"hint": [0.0, -1.0, 0.0]})
    encoder = SpaceEncoder(snapshot.space)
    assert np.allclose(hint_direction(encoder, [0.0, -1.0, 0.0], np.full(3, 0.5)), [0, -1, 0])
    assert turned.suggest(snapshot, 1, state).points  # the running wave keeps going
    with pytest.raises(ValueError, match="hint has 2 numbers"):
        DirectSearch({"hint": [1.0, 2.0]}).suggest(snapshot, 1, None)
    with pytest.raises(ValueError, match="unknown parameters"):
        DirectSearch({"hint": {"nope": 1.0}}).suggest(snapshot, 1, None)


def test_hint_in_log_units_uses_the_chain_rule():
    encoder = SpaceEncoder(make_snapshot(FLOATS, 0).space)
    x = np.array([0.5, 0.5, 0.5])  # lr = 1e-2
    h = hint_direction(encoder, {"lr": 1e-2, "x": 0.0}, x)
    assert h is not None and np.allclose(h, [0, 0, 1])
    h = hint_direction(encoder, {"lr": 1e-2 * np.log(1e4) / 4, "x": 1.0}, x)
    assert h is not None and np.allclose(h, [1, 0, 1])


def test_a_good_hint_speeds_up_the_search():
    def run(options):
        study = LocalStudy.over(FLOATS[:2], seed=2)
        run_study(DirectSearch(options), study, bowl, 12, batch=1)
        return min(study.values())

    # from the centre (x = 0, y = 0.5) the optimum lies along (+0.5, -0.2)
    assert run({"hint": [0.5, -0.2]}) < run({}) / 4


def test_integer_dimensions_stay_on_their_grid_and_points_are_not_repeated():
    study = LocalStudy.over(MIXED, seed=3)
    state = run_study(DirectSearch({"restarts": False}), study, bowl, 150, batch=1)
    keys = [study.space.point_key(t.params) for t in study.trials]
    assert len(keys) == len(set(keys))
    assert all(t.params["k"] in (1, 3, 5, 7, 9) for t in study.trials)
    assert min(study.values()) < 1e-3 and state["restart"] == 0


def test_restarts_after_converging():
    study = LocalStudy.over([IntParam(name="k", low=0, high=4)], seed=4)
    state = run_study(DirectSearch(), study, lambda p: (p["k"] - 2) ** 2, 5, batch=1)
    assert state["restart"] >= 1


def test_suggest_leaves_the_given_state_alone():
    study = LocalStudy.over(FLOATS, seed=5)
    state = run_study(DirectSearch(), study, bowl, 15, batch=4)
    before = copy.deepcopy(state)
    DirectSearch().suggest(study.snapshot(), 5, state)
    assert state == before


@pytest.mark.parametrize("opportunistic", [True, False])
def test_a_new_worker_continues_exactly(opportunistic):
    def make():
        return DirectSearch({"opportunistic": opportunistic, "hint": [1.0, 0.0, 0.5]})

    kwargs = dict(rounds=40, batch=3, seed=6, fail=0.1, lose=0.1, delay=0.3)
    straight, final = replay_study(make, MIXED, bowl, **kwargs)
    resumed, final_resumed = replay_study(make, MIXED, bowl, restarts=[2, 15, 16, 30], **kwargs)
    every, final_every = replay_study(make, MIXED, bowl, restarts=range(40), **kwargs)
    assert straight == resumed == every
    assert json.dumps(final) == json.dumps(final_resumed) == json.dumps(final_every)
    assert final["k"] > 2


def test_beats_random_search_on_a_quadratic():
    budget = 200
    study = LocalStudy.over(FLOATS, seed=7)
    run_study(DirectSearch(), study, bowl, budget, batch=4)
    points = SpaceEncoder(study.space).decode(np.random.default_rng(0).random((budget, 3)))
    assert min(study.values()) < min(bowl(p) for p in points) / 10


def test_rejects_categoricals():
    params = [*FLOATS, CategoricalParam(name="c", choices=["a", "b"])]
    with pytest.raises(ValueError, match="categorical"):
        DirectSearch().suggest(make_snapshot(params, 2), 1, None)


def test_a_space_with_few_points_never_stalls():
    params = [IntParam(name="k", low=0, high=2), IntParam(name="j", low=0, high=1)]
    study = LocalStudy.over(params, seed=8)
    run_study(DirectSearch(), study, lambda p: float(p["k"] + p["j"]), 60, batch=4)
    assert len(study.trials) == 60 and min(study.values()) == 0.0


def test_a_lost_poll_point_is_handed_out_again():
    study = LocalStudy.over(FLOATS, seed=9)
    strategy = DirectSearch()
    ids, proposal = study.ask(strategy, 1, None)
    study.tell(ids[0], {"value": 0.0})
    ids, proposal = study.ask(strategy, 3, proposal.state)
    study.drop(ids[0])
    for i in ids[1:]:
        study.tell(i, {"value": 1.0})
    again, proposal = study.ask(strategy, 1, proposal.state)
    assert study.trials[again[0]].params == study.trials[ids[0]].params
    assert proposal.state["k"] == 1
