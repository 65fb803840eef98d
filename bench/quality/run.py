"""Command line of the quality suite: `python -m bench.quality [--quick] ...`.

Runs asktell strategies (in-process, or through a live server with
`--via-http`) next to Optuna samplers and Ax on the same problems and seeds,
then writes `quality.md`, `quality_runs.jsonl` and PNG plots to the output
directory (default `bench/results/`).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import os
import platform
import shlex
import sys
import time
from collections.abc import Sequence
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench.quality.optimizers import (
    BASELINES,
    available_baselines,
    parse_strategy,
    registered_strategies,
)
from bench.quality.problems import PROBLEMS, QUICK_PROBLEMS, select_problems
from bench.quality.report import markdown, plot_traces, summarize
from bench.quality.runners import Job, RunRecord, load_records, method_by_name, run_jobs

__all__ = ["main", "parse_args"]

DEFAULT_STRATEGIES = ("auto", "gp", "random", "sobol")
QUICK_SEEDS, FULL_SEEDS = 3, 5
QUICK_WORKERS = 2
RESULTS_DIR = Path(__file__).resolve().parents[1] / "results"


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m bench.quality", description=__doc__.split("\n")[0])
    ap.add_argument(
        "--quick",
        action="store_true",
        help=f"{len(QUICK_PROBLEMS)} 2-d problems ({', '.join(QUICK_PROBLEMS)}), "
        f"{QUICK_SEEDS} seeds, {QUICK_WORKERS} workers unless --workers is given",
    )
    ap.add_argument(
        "--strategies",
        nargs="*",
        help="asktell strategies (default: those of auto gp random sobol that are registered); "
        "give none for none; `name{json}` sets options, e.g. 'auto{\"init_trials\": 5}'",
    )
    ap.add_argument(
        "--baselines",
        nargs="*",
        help=f"baselines (default: all usable of {' '.join(BASELINES)}); give none for none",
    )
    ap.add_argument("--seeds", type=int, help=f"seeds 0..N-1 (default {FULL_SEEDS}, quick 3)")
    ap.add_argument(
        "--first-seed", type=int, default=0, help="start the seeds here (a held-out set: 5)"
    )
    ap.add_argument(
        "--problems", nargs="+", help="names, groups or shell patterns (e.g. 'bbob-*-d2' hpo)"
    )
    ap.add_argument("--via-http", action="store_true", help="asktell through `asktell serve`")
    ap.add_argument("--workers", type=int, help="parallel processes (default 1)")
    ap.add_argument("--out", type=Path, default=RESULTS_DIR, help="output directory")
    ap.add_argument(
        "--resume", action="store_true", help="keep finished runs of quality_runs.jsonl"
    )
    ap.add_argument(
        "--include",
        nargs="+",
        type=Path,
        default=[],
        help="other runs files (quality_runs.jsonl) whose runs count as done and are reported",
    )
    ap.add_argument(
        "--budget", type=int, help="evaluations per run for every problem (smoke tests only)"
    )
    ap.add_argument(
        "--report-only",
        action="store_true",
        help="run nothing: report the runs of --include and (with --resume) the output's",
    )
    ap.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    ap.add_argument("--list", action="store_true", help="list problems and methods, then exit")
    return ap.parse_args(argv)


def _strategies(args: argparse.Namespace) -> tuple[list[str], list[str]]:
    registered = registered_strategies()
    if args.strategies is None:
        chosen = [s for s in DEFAULT_STRATEGIES if s in registered]
        return chosen, [f"{s} (not registered)" for s in DEFAULT_STRATEGIES if s not in registered]
    try:
        names = [parse_strategy(s)[0] for s in args.strategies]
    except ValueError as exc:
        raise SystemExit(str(exc)) from None
    unknown = [s for s in names if s not in registered]
    if unknown:
        raise SystemExit(f"unknown strategies {unknown}; registered: {', '.join(registered)}")
    return list(args.strategies), []


def _baselines(args: argparse.Namespace) -> tuple[list[str], list[str]]:
    usable = available_baselines()
    wanted = list(BASELINES) if args.baselines is None else list(args.baselines)
    unknown = [b for b in wanted if b not in BASELINES]
    if unknown:
        raise SystemExit(f"unknown baselines {unknown}; known: {', '.join(BASELINES)}")
    chosen = [b for b in wanted if usable[b] is None]
    skipped = [f"{b} ({usable[b]})" for b in wanted if usable[b] is not None]
    return chosen, skipped


def _versions() -> str:
    from importlib.metadata import PackageNotFoundError, version

    parts = []
    for pkg in ("asktell", "botorch", "torch", "optuna", "ax-platform", "coco-experiment"):
        with contextlib.suppress(PackageNotFoundError):
            parts.append(f"{pkg} {version(pkg)}")
    return ", ".join(parts)


def _load() -> str:
    return ", ".join(f"{x:.1f}" for x in os.getloadavg())


def _cpu() -> str:
    model = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return f"{os.cpu_count()} CPUs ({model})"


def _header(args, strategies, baselines, skipped, seeds, workers, wall, load) -> list[str]:
    argv = sys.argv[1:] if args.argv is None else args.argv
    command = "python -m bench.quality " + " ".join(shlex.quote(a) for a in argv)
    budgets = (
        f"{args.budget} evaluations per run (overridden)"
        if args.budget
        else "20 evaluations for d=2, 50 for d=4-6, 100 for d=10"
    )
    mode = "through the HTTP API (`asktell serve`, SQLite)" if args.via_http else "in-process"
    lines = [
        f"Command: `{command.strip()}`",
        "",
        f"- Date: {dt.datetime.now().isoformat(timespec='minutes')}; wall time "
        f"{wall / 60:.1f} min with {workers} worker process(es), one torch thread each.",
        f"- Machine: {_cpu()}; load average (1, 5, 15 min) at start {load}, at the end {_load()}.",
        f"- Versions: {_versions()}.",
        f"- asktell strategies ({mode}): {', '.join(strategies) or 'none'}; "
        f"baselines: {', '.join(baselines) or 'none'}.",
        f"- Seeds {args.first_seed}..{args.first_seed + seeds - 1}; every method evaluates "
        "sequentially (q=1); BBOB seed k "
        f"uses instance k+1. Budgets: {budgets}.",
        "- Loss: log10 simple regret (floored at 1e-8); constrained: best feasible value "
        "(`none` = no feasible point, ranked last); multi-objective: hypervolume "
        "(reference point (18, 6)); HPO: best 3-fold CV log loss.",
        "- Baselines: Optuna samplers with their defaults and `seed` (`optuna-tpe` is the "
        "default, multivariate TPE; `optuna-tpe-indep` sets `multivariate=False`; "
        "`optuna-gp` sets `deterministic_objective=True`); constraints go to "
        "`constraints_func` (TPE, GP), CMA-ES is told f + 1e6 * total violation and sits out "
        "multi-objective problems; `ax` is Ax's `Client(random_seed=seed)` with its default "
        "generation strategy, constraints as outcome constraints and the reference point as "
        "objective thresholds.",
    ]
    if args.quick and not args.problems:
        lines.append(
            "- Quick mode: only 2-d problems (two BBOB functions, Branin, BraninCurrin) and "
            f"{QUICK_SEEDS} seeds; no constrained, 5/10-d or HPO problem."
        )
    if skipped:
        lines.append(f"- Left out: {'; '.join(skipped)}.")
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    args.argv = None if argv is None else list(argv)
    if args.list:
        for p in PROBLEMS.values():
            print(f"{p.name:18s} {p.group:16s} d={p.dim:<3d} budget={p.budget}")
        print("strategies:", " ".join(registered_strategies()))
        print("baselines:", " ".join(BASELINES))
        return 0
    strategies, skipped = _strategies(args)
    baselines, skipped_b = _baselines(args)
    skipped += skipped_b
    names = args.problems or (list(QUICK_PROBLEMS) if args.quick else list(PROBLEMS))
    try:
        problems = [p.name for p in select_problems(names)]
    except ValueError as exc:
        raise SystemExit(str(exc)) from None
    seeds = args.seeds or (QUICK_SEEDS if args.quick else FULL_SEEDS)
    workers = args.workers or (QUICK_WORKERS if args.quick else 1)
    methods = [f"asktell:{s}" for s in strategies] + baselines
    args.out.mkdir(parents=True, exist_ok=True)
    runs_path = args.out / "quality_runs.jsonl"
    done = {r.key(): r for path in args.include for r in load_records(path)}
    if args.resume:
        done.update({r.key(): r for r in load_records(runs_path)})
    if not args.resume and not args.report_only:
        runs_path.write_text("")
    load = _load()
    start = time.perf_counter()
    with contextlib.ExitStack() as stack:
        base_url = None
        if args.via_http and strategies:
            from bench.quality.server import asktell_server

            base_url = stack.enter_context(asktell_server(args.out))
        jobs = [
            Job(p, m, s, base_url, args.budget)
            for p in problems
            for m in methods
            if method_by_name(m).supports(PROBLEMS[p])
            for s in range(args.first_seed, args.first_seed + seeds)
        ]
        todo = [j for j in jobs if j.key() not in done and not args.report_only]
        records: list[RunRecord] = [done[j.key()] for j in jobs if j.key() in done]
        print(f"{len(todo)} runs to do ({len(records)} reused), {workers} worker(s)")
        with runs_path.open("a") if todo else contextlib.nullcontext() as sink:
            for i, record in enumerate(run_jobs(todo, workers), 1):
                sink.write(record.to_json() + "\n")
                sink.flush()
                records.append(record)
                _progress(i, len(todo), record)
    wall = time.perf_counter() - start
    summary = summarize(records, problems, methods)
    header = [
        "# asktell quality suite",
        "",
        *_header(args, strategies, baselines, skipped, seeds, workers, wall, load),
    ]
    text = markdown(summary, [f"asktell:{s}" for s in strategies], header)
    if not args.no_plots:
        plot_traces(records, problems, methods, args.out)
        where = os.path.relpath(args.out)
        text += f"\nPlots: `{where}/quality_<problem>.png` and `{where}/quality_overview.png`.\n"
    (args.out / "quality.md").write_text(text)
    print(text)
    return 0


def _progress(i: int, n: int, r: RunRecord) -> None:
    problem = PROBLEMS[r.problem]
    final = r.final
    shown = problem.metric.table(final) if final != float("inf") else float("inf")
    status = "FAILED " + (r.error or "").strip().splitlines()[-1] if r.error else f"{shown:.4g}"
    print(
        f"[{i}/{n}] {r.problem} {r.method} seed {r.seed}: {status} "
        f"({r.ask_seconds:.1f} s optimizer, {r.wall_seconds:.1f} s total)",
        flush=True,
    )


if __name__ == "__main__":
    raise SystemExit(main())
