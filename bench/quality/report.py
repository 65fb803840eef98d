"""Tables, aggregate ranks, win rates and regret plots from run records."""

from __future__ import annotations

import math
import warnings
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.stats import rankdata

from bench.quality.problems import PROBLEMS, Metric, Problem
from bench.quality.runners import RunRecord

__all__ = ["Summary", "markdown", "plot_traces", "summarize"]

BIG = 1e300


def _quantiles(x: np.ndarray) -> tuple[float, float, float]:
    """(q25, median, q75) of losses that may be infinite."""
    finite = np.where(np.isinf(x), BIG, x)
    q = np.percentile(finite, [25, 50, 75])
    return tuple(math.inf if v >= BIG / 10 else float(v) for v in q)  # type: ignore[return-value]


@dataclass
class Cell:
    """The runs of one method on one problem."""

    finals: np.ndarray
    seeds: list[int]
    ask_seconds: float
    failures: int

    @property
    def quantiles(self) -> tuple[float, float, float]:
        return _quantiles(self.finals)

    @property
    def median(self) -> float:
        return self.quantiles[1]


@dataclass
class Summary:
    """Final losses per problem and method, with ranks and win rates."""

    problems: list[str]
    methods: list[str]
    cells: dict[str, dict[str, Cell]]

    def ranks(self, problem: str) -> dict[str, float]:
        """Rank (1 = best, ties averaged) of each method's median final loss."""
        row = self.cells[problem]
        names = [m for m in self.methods if m in row]
        medians = np.array([row[m].median for m in names])
        return dict(zip(names, rankdata(np.where(np.isinf(medians), BIG, medians)), strict=True))

    def average_ranks(self) -> dict[str, tuple[float, int]]:
        """Mean rank of each method over the problems it ran on, and their count."""
        acc: dict[str, list[float]] = defaultdict(list)
        for p in self.problems:
            for m, r in self.ranks(p).items():
                acc[m].append(float(r))
        return {m: (float(np.mean(acc[m])), len(acc[m])) for m in self.methods if acc[m]}

    def win_rate(self, a: str, b: str) -> tuple[float, float, int]:
        """Share of problems where `a`'s median beats `b`'s (ties count half), the same
        over paired (problem, seed) runs, and the number of problems compared."""
        by_problem, by_run = [], []
        for p in self.problems:
            row = self.cells[p]
            if a not in row or b not in row:
                continue
            by_problem.append(_score(row[a].median, row[b].median))
            runs_b = dict(zip(row[b].seeds, row[b].finals, strict=True))
            for seed, fa in zip(row[a].seeds, row[a].finals, strict=True):
                if seed in runs_b:
                    by_run.append(_score(fa, runs_b[seed]))
        if not by_problem:
            return math.nan, math.nan, 0
        return float(np.mean(by_problem)), float(np.mean(by_run)), len(by_problem)


def _score(a: float, b: float) -> float:
    return 0.5 if a == b else float(a < b)


def summarize(records: Sequence[RunRecord], problems: Sequence[str], methods: Sequence[str]):
    """Group final losses by problem and method (only the given ones)."""
    grouped: dict[tuple[str, str], list[RunRecord]] = defaultdict(list)
    for r in records:
        if r.problem in problems and r.method in methods:
            grouped[(r.problem, r.method)].append(r)
    cells: dict[str, dict[str, Cell]] = {p: {} for p in problems}
    for (p, m), runs in grouped.items():
        runs.sort(key=lambda r: r.seed)
        cells[p][m] = Cell(
            finals=np.array([r.final for r in runs]),
            seeds=[r.seed for r in runs],
            ask_seconds=float(np.mean([r.ask_seconds for r in runs])),
            failures=sum(r.error is not None for r in runs),
        )
    present = [m for m in methods if any(m in cells[p] for p in problems)]
    return Summary(list(problems), present, cells)


# --------------------------------------------------------------------------- markdown


def _fmt(metric: Metric, loss: float) -> str:
    if not math.isfinite(loss):
        return "none" if metric.table_label == "best feasible f" else "fail"
    value = metric.table(loss)
    return f"{value:.2f}" if metric.table_label.startswith("log10") else f"{value:.4g}"


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def _aggregate_tables(summary: Summary, strategies: Sequence[str]) -> list[str]:
    lines = ["### Average rank (1 = best; rank of the median final loss per problem)", ""]
    ranks = sorted(summary.average_ranks().items(), key=lambda kv: kv[1][0])
    lines += _table(
        ["method", "average rank", "problems"], [[m, f"{r:.2f}", str(n)] for m, (r, n) in ranks]
    )
    baselines = [m for m in summary.methods if not m.startswith("asktell:")]
    ours = [m for m in summary.methods if m in strategies]
    if ours and baselines:
        lines += [
            "",
            "### Win rate of each asktell strategy against each baseline",
            "",
            "Share of problems where the strategy's median final loss is lower (ties count "
            "half); in brackets the same over paired runs (same problem and seed).",
            "",
        ]
        rows = []
        for a in ours:
            row = [a]
            for b in baselines:
                wp, wr, n = summary.win_rate(a, b)
                row.append("n/a" if n == 0 else f"{100 * wp:.0f}% ({100 * wr:.0f}%)")
            rows.append(row)
        lines += _table(["strategy", *baselines], rows)
    return lines


def _overview(summary: Summary) -> list[str]:
    lines = [
        "### Median final value per problem (best in bold)",
        "",
    ]
    rows = []
    for p in summary.problems:
        problem = PROBLEMS[p]
        row_cells = summary.cells[p]
        ranks = summary.ranks(p)
        best = min(ranks.values()) if ranks else None
        row = [p, problem.metric.table_label]
        for m in summary.methods:
            if m not in row_cells:
                row.append("n/a")
                continue
            text = _fmt(problem.metric, row_cells[m].median)
            row.append(f"**{text}**" if ranks[m] == best else text)
        rows.append(row)
    return [*lines, *_table(["problem", "metric", *summary.methods], rows)]


def _problem_table(summary: Summary, p: str) -> list[str]:
    problem: Problem = PROBLEMS[p]
    ranks = summary.ranks(p)
    note = f"; {problem.note}" if problem.note else ""
    lines = [
        f"#### {p} (d={problem.dim}, {problem.budget} evaluations{note})",
        "",
    ]
    rows = []
    for m in sorted(ranks, key=ranks.get):
        cell = summary.cells[p][m]
        q25, q50, q75 = cell.quantiles
        if problem.metric.higher_is_better:
            lo, hi = _fmt(problem.metric, q75), _fmt(problem.metric, q25)
        else:
            lo, hi = _fmt(problem.metric, q25), _fmt(problem.metric, q75)
        rows.append(
            [
                m,
                _fmt(problem.metric, q50),
                f"{lo} .. {hi}",
                f"{ranks[m]:g}",
                f"{len(cell.finals)}" + (f" ({cell.failures} failed)" if cell.failures else ""),
                f"{cell.ask_seconds:.1f}",
            ]
        )
    header = [
        "method",
        f"median {problem.metric.table_label}",
        "IQR",
        "rank",
        "runs",
        "optimizer s/run",
    ]
    return [*lines, *_table(header, rows), ""]


def markdown(summary: Summary, strategies: Sequence[str], header: Sequence[str] = ()) -> str:
    """The whole report: conditions, aggregates, overview and one table per problem."""
    lines = [*header, ""]
    lines += _aggregate_tables(summary, strategies)
    lines += ["", *_overview(summary), "", "### Per problem", ""]
    for p in summary.problems:
        lines += _problem_table(summary, p)
    return "\n".join(lines).rstrip() + "\n"


# --------------------------------------------------------------------------- plots


def _curves(records: Sequence[RunRecord], problem: Problem) -> dict[str, np.ndarray]:
    """Method -> seeds x evaluations of plotted values (NaN where undefined)."""
    by_method: dict[str, list[list[float]]] = defaultdict(list)
    for r in records:
        if r.problem != problem.name or r.error:
            continue
        ys = [problem.metric.plot(x) for x in r.losses]
        by_method[r.method].append([y if math.isfinite(y) else math.nan for y in ys])
    out = {}
    for m, runs in by_method.items():
        n = max(len(run) for run in runs)
        out[m] = np.array([run + [math.nan] * (n - len(run)) for run in runs])
    return out


def _draw(ax, records: Sequence[RunRecord], problem: Problem, methods: Sequence[str]) -> None:
    curves = _curves(records, problem)
    for i, m in enumerate(methods):
        if m not in curves:
            continue
        Y = curves[m]
        x = np.arange(1, Y.shape[1] + 1)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            med = np.nanmedian(Y, axis=0)
            lo, hi = np.nanpercentile(Y, [25, 75], axis=0)
        style = "-" if m.startswith("asktell:") else "--"
        (line,) = ax.plot(x, med, style, label=m, color=f"C{i % 10}", linewidth=1.6)
        ax.fill_between(x, lo, hi, color=line.get_color(), alpha=0.12, linewidth=0)
    ax.set_title(f"{problem.name} (d={problem.dim})", fontsize=9)
    ax.set_xlabel("evaluations", fontsize=8)
    ax.set_ylabel(problem.metric.plot_label, fontsize=8)
    ax.tick_params(labelsize=7)
    ax.grid(alpha=0.3)


def plot_traces(
    records: Sequence[RunRecord], problems: Sequence[str], methods: Sequence[str], out_dir: Path
) -> list[Path]:
    """One PNG per problem and an overview grid: median best-so-far with the IQR band."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for p in problems:
        fig, ax = plt.subplots(figsize=(6, 4))
        _draw(ax, records, PROBLEMS[p], methods)
        ax.legend(fontsize=7, ncol=2)
        fig.tight_layout()
        path = out_dir / f"quality_{p}.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        paths.append(path)
    cols = min(4, len(problems))
    rows = math.ceil(len(problems) / cols)
    height = 3.2 * rows + 0.9
    fig, axes = plt.subplots(rows, cols, figsize=(4 * cols, height), squeeze=False)
    for ax, p in zip(axes.flat, problems, strict=False):
        _draw(ax, records, PROBLEMS[p], methods)
    for ax in list(axes.flat)[len(problems) :]:
        ax.axis("off")
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=min(6, len(labels)), fontsize=8)
    fig.tight_layout(rect=(0, 0.9 / height, 1, 1))
    path = out_dir / "quality_overview.png"
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return [*paths, path]
