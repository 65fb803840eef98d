"""bench/bnn_suite.py: the paired comparison and the strategies' options."""

from __future__ import annotations

import json

import numpy as np
import pytest

from asktell.strategies.registry import get_strategy
from bench.bnn_suite import (
    PROBLEMS,
    STRATEGIES,
    _paired,
    _per_seed,
    _poly,
    _table,
    instance_rng,
    label,
    merged_runs,
    methods,
    options_for,
    run_one,
)


def _run(problem: str, strategy: str, seed: int, final: float) -> dict:
    return {"problem": problem, "strategy": strategy, "seed": seed, "regret": [10.0, final]}


def test_paired_counts_wins_ties_and_losses_seed_by_seed():
    runs = [_run("ellipsoid-50d", "gp", s, 10.0 ** (s + 1)) for s in range(3)]
    # ibnn: better on seed 0, equal on seed 1, worse on seed 2 (log10 differences -1, 0, +2)
    runs += [_run("ellipsoid-50d", "ibnn", s, v) for s, v in enumerate([1.0, 100.0, 1e5])]
    runs.append(_run("ellipsoid-50d", "dkl", 0, 1.0))  # its seeds 1 and 2 are missing
    lines = _paired(runs)
    assert lines[1] == "ellipsoid-50d: ibnn 1/1/1 (+0.00), dkl 1/0/0 (-1.00)"
    assert len(lines) == 2  # problems without runs and gp itself are left out


def test_a_later_file_replaces_the_same_run_and_tables_read_any_evaluation(tmp_path):
    first, second = tmp_path / "first.json", tmp_path / "second.json"
    gp = _run("branin-in-30d", "gp", 0, 1.0)
    old, new = _run("branin-in-30d", "ibnn", 0, 10.0), _run("branin-in-30d", "ibnn", 0, 0.01)
    first.write_text(json.dumps({"runs": [gp, old]}))
    second.write_text(json.dumps({"runs": [new]}))
    runs = merged_runs([str(first), str(second)])
    assert sorted(r["strategy"] for r in runs) == ["gp", "ibnn"]
    assert _paired(runs)[1] == "branin-in-30d: ibnn 1/0/0 (-2.00)"
    assert _paired(runs, at=1)[1] == "branin-in-30d: ibnn 0/1/0 (+0.00)"  # both at 10.0 then
    row = next(line for line in _table([{**new, "suggest_seconds": 3.0}]) if "branin" in line)
    assert "| -2.00 (3 s) |" in row
    assert _per_seed(runs)[1:] == ["branin-in-30d gp: 0: 0.00", "branin-in-30d ibnn: 0: -2.00"]


@pytest.mark.parametrize("time_limits", [False, True])
@pytest.mark.parametrize("strategy", STRATEGIES)
def test_every_strategy_accepts_the_suites_options(strategy: str, time_limits: bool):
    options = options_for(strategy, time_limits)
    config = get_strategy(strategy)(options).config  # unknown options are refused
    limits = [
        getattr(config, k)
        for k in ("timeout_sec", "fit_timeout_sec", "time_budget_sec")
        if hasattr(config, k)
    ]
    assert all(v <= 15.0 for v in limits) if time_limits else all(v >= 1000 for v in limits)


def test_a_seed_reproduces_its_run_without_time_limits():
    first, second = (run_one("nonstationary-4d", "gp", 3, 10, 4, 3) for _ in range(2))
    assert len(first["regret"]) == 10
    assert first["regret"] == second["regret"]


def test_random_search_draws_new_points_at_every_ask():
    run = run_one("ellipsoid-50d", "random", 0, 40, 10, 10)
    assert run["distinct_points"] == 40


@pytest.mark.parametrize("seed", [0, 1, 7])
def test_an_instance_does_not_share_the_methods_random_streams(seed):
    drawn = instance_rng(seed).random(5)
    for stream in (np.random.default_rng(seed), np.random.default_rng([seed, 0])):
        assert not np.allclose(stream.random(5), drawn)


def test_options_given_per_strategy_reach_it():
    with pytest.raises(Exception, match="no_such_option"):
        run_one("nonstationary-4d", "gp", 0, 6, 4, 2, extra={"no_such_option": 1})


@pytest.mark.parametrize("seed", [0, 3])
def test_the_polynomials_optimum_is_its_best_corner_and_nothing_beats_it(seed):
    f, f_opt = _poly(4)(seed)  # one product of four inputs: 16 corners
    corners = [np.array([(i >> k) & 1 for k in range(4)], dtype=float) for i in range(16)]
    assert min(f(x) for x in corners) == pytest.approx(f_opt)
    inside = np.random.default_rng(seed).uniform(size=(2000, 4))
    assert min(f(x) for x in inside) > f_opt


def test_the_40d_polynomial_sums_ten_products():
    problem = next(p for p in PROBLEMS if p.name == "poly-40d")
    f, f_opt = problem.fn(1)
    x = np.random.default_rng(1).uniform(size=40)
    terms = [f(np.where(np.arange(40) % 10 == j, x, 0.0)) - f(np.zeros(40)) for j in range(10)]
    # the products are over disjoint inputs, so zeroing the others isolates each
    assert sum(terms) + f(np.zeros(40)) == pytest.approx(f(x))
    assert f_opt < f(x)


def test_runs_with_options_are_methods_of_their_own_even_in_older_files(tmp_path):
    older, newer = tmp_path / "older.json", tmp_path / "newer.json"
    whole = {"trust_region": 1.0}
    # an older file: runs without "options", the file's --options apply to its ibnn runs
    older.write_text(
        json.dumps(
            {
                "args": {"options": {"ibnn": whole}},
                "runs": [_run("poly-40d", "ibnn", 0, 0.1), _run("poly-40d", "gp", 0, 1.0)],
            }
        )
    )
    newer.write_text(json.dumps({"runs": [{**_run("poly-40d", "ibnn", 0, 10.0), "options": {}}]}))
    runs = merged_runs([str(older), str(newer)])
    assert sorted(label(r) for r in runs) == ["gp", "ibnn", 'ibnn{"trust_region":1.0}']
    assert methods(runs) == ["gp", "ibnn", 'ibnn{"trust_region":1.0}']
    assert (
        _paired(runs)[1] == 'poly-40d: ibnn 0/0/1 (+1.00), ibnn{"trust_region":1.0} 1/0/0 (-1.00)'
    )
    against_whole = _paired(runs, reference='ibnn{"trust_region":1.0}')
    assert against_whole[1] == "poly-40d: gp 0/0/1 (+1.00), ibnn 0/0/1 (+2.00)"


def test_a_run_records_its_options():
    run = run_one("nonstationary-4d", "gp", 0, 6, 4, 2, extra={"trust_region": 0.5})
    assert run["options"] == {"trust_region": 0.5}
    assert label(run) == 'gp{"trust_region":0.5}'
