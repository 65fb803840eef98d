"""`cma-es`: JSON state of the `cmaes` optimizers, generations, restarts, determinism."""

from __future__ import annotations

import copy
import json

import cmaes
import numpy as np
import pytest
from strategy_cases import MIXED_SPACE, StrategyCases, make_snapshot

from asktell.core.encoding import SpaceEncoder
from asktell.core.space import SearchSpace
from asktell.strategies._population import LocalStudy, replay_study, run_study, seed_for
from asktell.strategies.cmaes import (
    CMAES,
    CMAESConfig,
    _decode,
    _encode,
    _Layout,
    dump_optimizer,
    load_optimizer,
)
from asktell.strategies.registry import get_strategy
from asktell_client.types import (
    CategoricalParam,
    ConstraintSpec,
    Direction,
    FloatParam,
    IntParam,
    ObjectiveSpec,
)

FLOATS = [FloatParam(name=f"x{i}", low=-3.0, high=3.0) for i in range(4)]
INTS = [FloatParam(name="a", low=0.0, high=1.0), IntParam(name="k", low=0, high=12, step=2)]
CATS = [*INTS, CategoricalParam(name="c", choices=["u", "v", "w"])]


def sphere(p) -> float:
    return sum((v - 1.0) ** 2 for k, v in p.items() if k.startswith("x"))


def mixed(p) -> float:
    return (p["a"] - 0.3) ** 2 + (p["k"] - 6) ** 2 / 36 + (0.0 if p.get("c", "v") == "v" else 1.0)


class TestCMAES(StrategyCases):
    strategy_name = "cma-es"

    def test_registered(self):
        assert get_strategy("cma-es") is CMAES
        assert CMAES.inline is False and CMAES.description


@pytest.mark.parametrize(
    ("params", "variant", "options"),
    [
        (FLOATS, "CMA", {}),
        (FLOATS, "SepCMA", {"variant": "sep"}),
        (INTS, "CMAwM", {}),
        (CATS, "CatCMAwM", {}),
        ([CategoricalParam(name="c", choices=[1, 2, 3])], "CatCMAwM", {}),
    ],
)
def test_optimizer_survives_json_exactly(params, variant, options):
    encoder = SpaceEncoder(SearchSpace(params))
    config = CMAESConfig(**options)
    layout = _Layout.of(encoder, config)
    assert layout.variant == variant
    opt = layout.build(np.full(encoder.d, 0.5), 0.3, 6, 1, config)
    for generation in range(8):
        solutions = []
        for i in range(6):
            clone = load_optimizer(json.loads(json.dumps(dump_optimizer(opt))))
            opt.reseed_rng(100 * generation + i)
            clone.reseed_rng(100 * generation + i)
            x, payload = layout.ask(opt)
            x_clone, payload_clone = layout.ask(clone)
            assert np.array_equal(x, x_clone) and payload == payload_clone
            stored = json.loads(json.dumps(payload))
            solutions.append((layout.solution(stored), float(np.sum((x - 0.3) ** 2))))
        opt.tell(solutions)
    text = json.dumps(dump_optimizer(opt))
    assert json.dumps(dump_optimizer(load_optimizer(json.loads(text)))) == text


def test_codec_keeps_non_finite_values_and_dtypes():
    values = {
        "a": np.array([[1.0, np.inf], [-np.inf, np.nan]]),
        "i": np.arange(3, dtype=np.int64),
        "b": np.array([True, False]),
        "s": np.float64(2.5),
        "t": (1, float("inf")),
    }
    text = json.dumps({k: _encode(v) for k, v in values.items()}, allow_nan=False)
    back = {k: _decode(v) for k, v in json.loads(text).items()}
    assert np.array_equal(back["a"], values["a"], equal_nan=True)
    assert back["i"].dtype == np.int64 and back["b"].dtype == bool
    assert isinstance(back["s"], np.float64) and back["t"] == (1, float("inf"))


def test_state_records_the_package_version_and_is_plain_json():
    proposal = CMAES().suggest(make_snapshot(FLOATS, 0), 3, None)
    state = proposal.state
    assert state["cmaes"] == cmaes.__version__ and state["version"] == 1
    assert json.loads(json.dumps(state, allow_nan=False)) == state


def test_population_is_at_least_the_batch():
    study = LocalStudy.over(FLOATS)
    _, proposal = study.ask(CMAES(), 30, None)
    assert proposal.state["popsize"] == 30
    _, proposal = LocalStudy.over(FLOATS).ask(CMAES(), 2, None)
    assert proposal.state["popsize"] == 4 + int(3 * np.log(4))


def test_generation_is_told_after_population_size_results():
    study = LocalStudy.over(FLOATS, seed=1)
    strategy = CMAES({"population_size": 6})
    ids, proposal = study.ask(strategy, 4, None)
    state = proposal.state
    for i in ids:
        study.tell(i, {"value": sphere(study.trials[i].params)})
    more, proposal = study.ask(strategy, 5, state)  # 2 members still missing: 3 extra ones
    state = proposal.state
    assert state["generation"] == 0 and len(state["members"]) == 9
    study.tell(more[0], {"value": sphere(study.trials[more[0]].params)})
    study.fail(more[1])
    _, proposal = study.ask(strategy, 1, state)
    assert proposal.state["generation"] == 0  # 5 told, 1 failed: still one short
    state = proposal.state
    study.tell(more[2], {"value": sphere(study.trials[more[2]].params)})
    _, proposal = study.ask(strategy, 2, state)
    assert proposal.state["generation"] == 1 and len(proposal.state["members"]) == 2


def test_ipop_restarts_with_a_larger_population():
    study = LocalStudy.over(FLOATS[:2], seed=2)
    state = run_study(CMAES(), study, lambda p: 1.0, 400, batch=6)
    assert state["restart"] >= 1
    assert state["popsize"] == 12 * 2 ** (state["restart"] - 1)


def test_integers_and_categoricals_give_valid_distinct_points():
    for params, variant in ((INTS, "CMAwM"), (CATS, "CatCMAwM")):
        study = LocalStudy.over(params, seed=3)
        state = run_study(CMAES(), study, mixed, 120, batch=5)
        assert state["variant"] == variant
        for t in study.trials:
            assert study.space.validate_params(t.params) == t.params
        assert min(study.values()) < 0.01


def test_a_tiny_discrete_space_reuses_told_points():
    params = [IntParam(name="k", low=0, high=3), CategoricalParam(name="c", choices=[0, 1])]
    study = LocalStudy.over(params, seed=4)
    state = None
    for _ in range(6):
        ids, proposal = study.ask(CMAES(), 2, state)
        state = proposal.state
        for i in ids:
            study.tell(i, {"value": float(study.trials[i].params["k"])})
    assert state["generation"] >= 2


def test_another_cmaes_version_continues_from_mean_and_sigma():
    study = LocalStudy.over(FLOATS, seed=5)
    state = run_study(CMAES(), study, sphere, 60, batch=8)
    old = dict(state, cmaes="0.0.0")
    proposal = CMAES().suggest(study.snapshot(), 4, old)
    assert proposal.state["cmaes"] == cmaes.__version__
    X = SpaceEncoder(study.space).encode(proposal.points)
    assert np.all(np.abs(X - np.asarray(state["mean"])) < 6 * state["sigma"] + 1e-9)


def test_maximisation_and_constraints():
    snapshot = make_snapshot(
        FLOATS,
        20,
        lambda p: {"value": -sphere(p), "c": p["x0"]},
        objectives=[ObjectiveSpec(name="value", direction=Direction.maximize)],
        constraints=[ConstraintSpec(name="c", upper=0.0)],
    )
    proposal = CMAES({"start": "best"}).suggest(snapshot, 3, None)
    assert len(proposal.points) == 3
    with pytest.raises(ValueError, match="single objective"):
        two = make_snapshot(
            FLOATS,
            3,
            lambda p: {"a": 1.0, "b": 1.0},
            objectives=[ObjectiveSpec(name="a"), ObjectiveSpec(name="b")],
        )
        CMAES().suggest(two, 1, None)


def test_suggest_leaves_the_given_state_alone():
    study = LocalStudy.over(FLOATS, seed=6)
    state = run_study(CMAES(), study, sphere, 20, batch=7)
    before = copy.deepcopy(state)
    CMAES().suggest(study.snapshot(), 5, state)
    assert state == before


@pytest.mark.parametrize("params", [FLOATS, CATS], ids=["floats", "mixed"])
def test_a_new_worker_continues_exactly(params):
    fn = sphere if params is FLOATS else mixed
    kwargs = dict(rounds=40, batch=3, seed=8, fail=0.1, lose=0.1, delay=0.3)
    straight, final = replay_study(CMAES, params, fn, **kwargs)
    resumed, final_resumed = replay_study(CMAES, params, fn, restarts=[3, 10, 11, 25], **kwargs)
    every, final_every = replay_study(CMAES, params, fn, restarts=range(40), **kwargs)
    assert straight == resumed == every
    assert json.dumps(final) == json.dumps(final_resumed) == json.dumps(final_every)
    assert final["generation"] + final["restart"] > 3


def test_beats_random_search_on_a_sphere():
    budget = 300
    study = LocalStudy.over(FLOATS, seed=9)
    run_study(CMAES(), study, sphere, budget, batch=6)
    points = SpaceEncoder(study.space).decode(np.random.default_rng(0).random((budget, 4)))
    assert min(study.values()) < min(sphere(p) for p in points) / 100


def test_mixed_space_case_of_the_shared_suite_uses_catcmawm():
    snapshot = make_snapshot(MIXED_SPACE, 5)
    assert CMAES().suggest(snapshot, 2, None).state["variant"] == "CatCMAwM"


def test_a_space_with_few_points_never_stalls():
    params = [IntParam(name="k", low=0, high=2), CategoricalParam(name="c", choices=["a", "b"])]
    study = LocalStudy.over(params, seed=10)
    run_study(CMAES(), study, lambda p: float(p["k"]), 60, batch=4)
    assert len(study.trials) == 60 and min(study.values()) == 0.0


def test_a_state_for_another_space_is_dropped():
    study = LocalStudy.over(FLOATS, seed=11)
    state = run_study(CMAES(), study, sphere, 24, batch=8)
    assert state["generation"] == 2
    other = make_snapshot(FLOATS[:3], 5)
    assert CMAES().suggest(other, 2, state).state["generation"] == 0


def test_a_lost_member_is_handed_out_again():
    study = LocalStudy.over(FLOATS, seed=12)
    strategy = CMAES({"population_size": 4})
    ids, proposal = study.ask(strategy, 4, None)
    study.drop(ids[2])
    for i in (ids[0], ids[1], ids[3]):
        study.tell(i, {"value": sphere(study.trials[i].params)})
    again, proposal = study.ask(strategy, 2, proposal.state)
    assert study.trials[again[0]].params == study.trials[ids[2]].params
    assert proposal.state["generation"] == 0 and len(proposal.state["members"]) == 5


def test_the_default_search_is_plain_cma_es_with_optunas_settings():
    """Until a restart, the points are those of `cmaes.CMA` started as Optuna starts it."""
    seed, d = 13, len(FLOATS)
    popsize = 4 + int(3 * np.log(d))
    reference = cmaes.CMA(np.full(d, 0.5), 1 / 6, np.tile([0.0, 1.0], (d, 1)))
    assert reference.population_size == popsize
    study = LocalStudy.over(FLOATS, seed=seed)
    encoder = SpaceEncoder(study.space)
    strategy, state = CMAES(), None
    for generation in range(15):
        ids, proposal = study.ask(strategy, popsize, state)
        state = proposal.state
        expected = []
        for member in range(popsize):
            reference.reseed_rng(seed_for(seed, 0, generation, member, 0))
            expected.append(reference.ask())
        X = encoder.encode([study.trials[i].params for i in ids])
        np.testing.assert_allclose(X, np.array(expected), atol=1e-12)
        values = [sphere(study.trials[i].params) for i in ids]
        for i, value in zip(ids, values, strict=True):
            study.tell(i, {"value": value})
        reference.tell(list(zip(expected, values, strict=True)))
    assert state["restart"] == 0 and state["generation"] == 14
