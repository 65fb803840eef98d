"""`auto` with `select_surrogate`: prequential scoring of candidate surrogates."""

from __future__ import annotations

import json

import pytest
from strategy_cases import BOX_2D, check_proposal, make_snapshot

from asktell.core.errors import InvalidInput
from asktell.strategies import auto as auto_module
from asktell.strategies.auto import Auto
from asktell.strategies.bnn_selection import MIN_TRAIN, prequential_scores, select
from asktell.strategies.registry import get_strategy, validate_strategy
from asktell_client.types import IntParam

FAST = {"num_restarts": 1, "raw_samples": 32, "maxiter": 25, "mc_samples": 16}
BROKEN_ENSEMBLE = {**FAST, "members": 2, "hidden": [8], "epochs": 1, "lr": 1e-6}


def bowl(p):
    return {"value": (p["x"] - 0.3) ** 2 + (p["y"] - 0.7) ** 2}


def test_scores_are_prequential_and_rank_a_good_model_first():
    snapshot = make_snapshot(BOX_2D, MIN_TRAIN + 3, bowl)
    candidates = {
        "bnn-ensemble": get_strategy("bnn-ensemble")(BROKEN_ENSEMBLE),
        "gp": get_strategy("gp")(FAST),
    }
    scores = prequential_scores(snapshot, candidates, window=10)
    assert set(scores) == {"bnn-ensemble", "gp"}
    assert scores["gp"] > scores["bnn-ensemble"]
    assert select(scores, "bnn-ensemble") == "gp"
    too_few = make_snapshot(BOX_2D, MIN_TRAIN, bowl)
    assert prequential_scores(too_few, candidates, window=3) == {}


def test_select_skips_failed_candidates_and_keeps_list_order_on_ties():
    assert select({"a": None, "b": -3.0, "c": -1.0}, "a") == "c"
    assert select({"a": -1.0, "b": -1.0}, "z") == "a"
    assert select({"a": None}, "z") == "z"


def test_auto_uses_the_best_scoring_surrogate_and_records_the_scores():
    options = {
        "init_trials": 5,
        "select_surrogate": True,
        "surrogates": ["bnn-ensemble", "gp"],
        "surrogate_options": {"bnn-ensemble": BROKEN_ENSEMBLE},
        "gp": FAST,
        "selection_window": 2,
    }
    snapshot = make_snapshot(BOX_2D, 8, bowl)
    proposal = Auto(options).suggest(snapshot, 1, None)
    check_proposal(snapshot, proposal, 1)
    scores = proposal.info["surrogate_scores"]
    assert proposal.info["surrogate"] == "gp" and scores["gp"] > scores["bnn-ensemble"]
    assert proposal.strategies == ["gp"]
    assert proposal.state["surrogate"] == {"name": "gp", "scores": scores, "n_completed": 8}
    assert proposal.state["gp"]["version"] == 1
    assert json.loads(json.dumps(proposal.state)) == proposal.state


def test_auto_reuses_scores_until_enough_new_trials(monkeypatch):
    calls = []

    def fake_scores(snapshot, candidates, window):
        calls.append(len(snapshot.completed))
        return {"gp": -5.0, "ibnn": -1.0}

    monkeypatch.setattr(auto_module, "prequential_scores", fake_scores)
    options = {
        "init_trials": 5,
        "select_surrogate": True,
        "surrogates": ["gp", "ibnn"],
        "surrogate_options": {"ibnn": FAST},
        "rescore_every": 3,
    }
    first = Auto(options).suggest(make_snapshot(BOX_2D, 8, bowl), 1, None)
    assert first.strategies == ["ibnn"] and first.info["phase"] == "ibnn"
    assert first.state["ibnn"]["version"] == 1
    second = Auto(options).suggest(make_snapshot(BOX_2D, 10, bowl), 1, first.state)
    assert second.strategies == ["ibnn"] and calls == [8]
    assert second.info["surrogate_scores"] == {"gp": -5.0, "ibnn": -1.0}
    Auto(options).suggest(make_snapshot(BOX_2D, 11, bowl), 1, second.state)
    assert calls == [8, 11]


def test_unknown_or_non_model_surrogates_are_rejected():
    with pytest.raises(InvalidInput):
        validate_strategy("auto", {"surrogates": ["cma-es"]})
    with pytest.raises(InvalidInput):
        validate_strategy("auto", {"surrogates": ["gp", "nope"]})


def test_a_single_candidate_is_used_without_scoring(monkeypatch):
    def no_scoring(snapshot, candidates, window):
        raise AssertionError("one candidate needs no scoring round")

    monkeypatch.setattr(auto_module, "prequential_scores", no_scoring)
    options = {"init_trials": 5, "select_surrogate": True, "surrogates": ["ibnn"]}
    options["surrogate_options"] = {"ibnn": FAST}
    proposal = Auto(options).suggest(make_snapshot(BOX_2D, 8, bowl), 1, None)
    assert proposal.strategies == ["ibnn"] and proposal.info["surrogate"] == "ibnn"
    assert proposal.state["surrogate"] == {"name": "ibnn", "scores": {}, "n_completed": 8}


def test_a_selected_network_searches_autos_trust_region_in_every_space():
    options = {"init_trials": 5, "select_surrogate": True, "surrogates": ["ibnn"]}
    mixed = [*BOX_2D, IntParam(name="k", low=1, high=5)]
    for space in (BOX_2D, mixed):
        snapshot = make_snapshot(space, 8, bowl)
        proposal = Auto({**options, "surrogate_options": {"ibnn": FAST}}).suggest(snapshot, 1, None)
        assert proposal.info["search_box_side"] == 0.2  # auto's side, not ibnn's own 0.4
    own = {"ibnn": {**FAST, "trust_region": 0.5}}
    proposal = Auto({**options, "surrogate_options": own}).suggest(snapshot, 1, None)
    assert proposal.info["search_box_side"] == 0.5
