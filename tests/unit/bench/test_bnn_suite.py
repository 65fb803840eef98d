"""The paired comparison of bench/bnn_suite.py."""

from __future__ import annotations

from bench.bnn_suite import _paired


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
