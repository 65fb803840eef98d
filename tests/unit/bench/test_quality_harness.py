"""Plumbing of the quality suite (bench/quality): tiny budgets, cheap methods."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from bench.quality import functions as fx
from bench.quality.bbob import PUBLISHED_FOPT_INSTANCE1, bbob_fopt
from bench.quality.pair import pair_lines
from bench.quality.problems import PROBLEMS, select_problems
from bench.quality.report import markdown, summarize
from bench.quality.run import main
from bench.quality.runners import Job, RunRecord, run_job

BUDGET = 6


def _check_record(record: RunRecord, problem: str) -> None:
    assert record.error is None, record.error
    assert record.budget == BUDGET and len(record.values) == BUDGET
    assert len(record.losses) == BUDGET
    assert all(b <= a for a, b in zip(record.losses, record.losses[1:], strict=False))
    names = {o["name"] for o in PROBLEMS[problem].objectives}
    assert all(names <= set(v) for v in record.values)
    assert math.isfinite(record.final) and record.final >= 0
    assert RunRecord.from_json(record.to_json()) == record


def test_asktell_in_process_run_is_well_formed():
    record = run_job(Job("branin", "asktell:random", seed=0, budget_override=BUDGET))
    _check_record(record, "branin")
    assert record.mode == "in-process"


def test_optuna_baseline_run_is_well_formed():
    pytest.importorskip("optuna")
    record = run_job(Job("branin", "optuna-random", seed=0, budget_override=BUDGET))
    _check_record(record, "branin")


def test_same_seed_same_run():
    a = run_job(Job("branin", "asktell:sobol", seed=1, budget_override=BUDGET))
    b = run_job(Job("branin", "asktell:sobol", seed=1, budget_override=BUDGET))
    assert a.values == b.values


def test_report_tables():
    records = [
        run_job(Job("branin", m, seed=s, budget_override=BUDGET))
        for m in ("asktell:random", "asktell:sobol")
        for s in (0, 1)
    ]
    summary = summarize(records, ["branin"], ["asktell:random", "asktell:sobol"])
    ranks = summary.ranks("branin")
    assert sorted(ranks.values()) in ([1.0, 2.0], [1.5, 1.5])
    wp, wr, n = summary.win_rate("asktell:random", "asktell:sobol")
    assert n == 1 and 0 <= wp <= 1 and 0 <= wr <= 1
    text = markdown(summary, ["asktell:random"])
    assert "Average rank" in text and "#### branin" in text and "asktell:sobol" in text


def test_cli_writes_report(tmp_path):
    pytest.importorskip("optuna")
    args = ["--problems", "branin", "--seeds", "2", "--strategies", "random"]
    args += ["--baselines", "optuna-random", "--budget", str(BUDGET), "--out", str(tmp_path)]
    assert main([*args, "--no-plots"]) == 0
    lines = (tmp_path / "quality_runs.jsonl").read_text().splitlines()
    assert len(lines) == 4
    assert {json.loads(line)["method"] for line in lines} == {"asktell:random", "optuna-random"}
    report = (tmp_path / "quality.md").read_text()
    assert "Win rate" in report and "| asktell:random |" in report


def test_first_seed_runs_a_held_out_set(tmp_path):
    args = ["--problems", "branin", "--seeds", "2", "--first-seed", "5", "--strategies", "random"]
    args += ["--baselines", "--budget", str(BUDGET), "--out", str(tmp_path), "--no-plots"]
    assert main(args) == 0
    lines = (tmp_path / "quality_runs.jsonl").read_text().splitlines()
    assert sorted(json.loads(line)["seed"] for line in lines) == [5, 6]
    assert "Seeds 5..6" in (tmp_path / "quality.md").read_text()


def test_strategy_options_and_included_runs(tmp_path):
    spec = 'auto{"init_trials": 6, "center_first": false}'  # Sobol points only
    common = ["--problems", "branin", "--seeds", "1", "--baselines", "--budget", str(BUDGET)]
    first, second = tmp_path / "a", tmp_path / "b"
    assert main([*common, "--strategies", spec, "--out", str(first), "--no-plots"]) == 0
    record = RunRecord.from_json((first / "quality_runs.jsonl").read_text().splitlines()[0])
    assert record.method == f"asktell:{spec}"
    centred = 'asktell:auto{"init_trials": 6}'
    plain = run_job(Job("branin", centred, seed=0, budget_override=BUDGET))
    assert record.values[0] != plain.values[0]  # the option reached the strategy
    included = ["--include", str(first / "quality_runs.jsonl")]
    args = [*common, "--strategies", spec, "random", *included, "--out", str(second)]
    assert main([*args, "--no-plots"]) == 0
    lines = (second / "quality_runs.jsonl").read_text().splitlines()
    assert [json.loads(line)["method"] for line in lines] == ["asktell:random"]
    assert f"| asktell:{spec} |" in (second / "quality.md").read_text()
    report = tmp_path / "report"
    args = [*common, "--strategies", spec, "sobol", *included, "--out", str(report)]
    assert main([*args, "--report-only", "--no-plots"]) == 0
    assert not (report / "quality_runs.jsonl").exists()  # nothing was run
    text = (report / "quality.md").read_text()
    assert f"| asktell:{spec} |" in text and "asktell:sobol" not in text
    with pytest.raises(SystemExit, match="not a JSON object"):
        main([*common, "--strategies", "sobol{oops", "--out", str(second)])


def test_plots(tmp_path):
    pytest.importorskip("matplotlib")
    from bench.quality.report import plot_traces

    records = [run_job(Job("branin", "asktell:random", seed=0, budget_override=BUDGET))]
    paths = plot_traces(records, ["branin"], ["asktell:random"], tmp_path)
    assert all(p.exists() and p.stat().st_size > 0 for p in paths)


def test_bbob_fopt_matches_published_values():
    for function, f_opt in PUBLISHED_FOPT_INSTANCE1.items():
        assert bbob_fopt(function, 1) == pytest.approx(f_opt, abs=1e-9)


def test_bbob_problem_optimum_is_checked():
    pytest.importorskip("cocoex")
    from bench.quality.bbob import BbobFunction

    fn = BbobFunction(3, 2, 2)
    assert fn(fn.x_opt) == pytest.approx(fn.f_opt)
    assert fn(np.zeros(2)) > fn.f_opt


def test_known_optima():
    assert fx.branin(math.pi, 2.275) == pytest.approx(fx.BRANIN_MIN)
    x = np.array([0.20169, 0.150011, 0.476874, 0.275332, 0.311652, 0.6573])
    assert fx.hartmann6(x) == pytest.approx(fx.HARTMANN6_MIN, abs=1e-5)
    assert fx.ackley(np.zeros(5)) == pytest.approx(0, abs=1e-12)
    assert fx.levy(np.ones(10)) == pytest.approx(0, abs=1e-12)
    cost, g = fx.welded_beam(0.205729640, 3.470488666, 9.036623910, 0.205729640)
    assert cost == pytest.approx(fx.WELDED_BEAM_BEST, abs=1e-5) and max(g) < 1e-6
    assert fx.hypervolume_2d(np.array([[1.0, 1.0], [2.0, 0.5]]), (3.0, 3.0)) == 4.5


def test_constrained_and_multi_objective_losses():
    pv = PROBLEMS["pressure-vessel"].instance(0)
    infeasible = pv.evaluate({"ts_k": 1, "th_k": 1, "r": 200.0, "length": 200.0})
    feasible = pv.evaluate({"ts_k": 99, "th_k": 99, "r": 50.0, "length": 200.0})
    trace = pv.trace([infeasible, feasible])
    assert math.isinf(trace[0]) and math.isfinite(trace[1])
    bc = PROBLEMS["branin-currin"].instance(0)
    trace = bc.trace([bc.evaluate({"x0": 0.5, "x1": 0.2}), bc.evaluate({"x0": 0.1, "x1": 0.9})])
    assert trace[0] >= trace[1] >= 0


def test_select_problems():
    assert [p.name for p in select_problems(["bbob-f1-*"])] == [
        "bbob-f1-d2",
        "bbob-f1-d5",
        "bbob-f1-d10",
    ]
    assert {p.name for p in select_problems(["constrained"])} == {"pressure-vessel", "welded-beam"}
    with pytest.raises(ValueError):
        select_problems(["nope"])


def test_pair_counts_seeds_and_medians(capsys):
    def run(method: str, seed: int, final: float, problem: str = "branin") -> RunRecord:
        return RunRecord(problem, method, seed, 2, "in-process", losses=[0.0, final])

    records = [
        *(run("a", s, f) for s, f in enumerate([0.1, 0.2, 0.3])),
        *(run("b", s, f) for s, f in enumerate([0.2, 0.2, 0.1])),
        run("a", 0, 5.0, "levy10"),  # no runs of b: left out
    ]
    lines = pair_lines(records, "a", "b", ["branin", "levy10"])
    assert "| branin | -0.699 | -0.699 | 1 / 1 / 1 |" in lines  # log10 of the medians, 0.2
    assert not any("levy10" in line for line in lines)
    assert lines[-1].endswith(
        "seeds 1 won / 1 lost / 1 tied; better median on 0.5 of 1 problems (50 %, ties half)."
    )
    assert pair_lines(records, "a", "c", ["branin"]) == ["no problem has runs of both a and c"]
