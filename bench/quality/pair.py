"""Pair two methods' runs by problem and seed: `python -m bench.quality.pair A B RUNS...`.

Prints, per problem, both medians and how many seeds each method won (lower loss
wins), then the totals and the share of problems whose median `A` beats (ties
half). `A` and `B` are method labels as in the runs files (`asktell:auto`,
`optuna-tpe`, `asktell:auto{"init_trials":5}`).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench.quality.problems import PROBLEMS
from bench.quality.report import summarize
from bench.quality.runners import load_records

__all__ = ["main", "pair_lines"]


def pair_lines(records, a: str, b: str, problems: Sequence[str]) -> list[str]:
    """A markdown table of `a` against `b` on the problems both ran, with totals."""
    summary = summarize(records, problems, [a, b])
    rows = [
        f"| problem | {a} | {b} | seeds won / lost / tied |",
        "|---|---|---|---|",
    ]
    won = lost = tied = 0
    medians = []
    for p in problems:
        cells = summary.cells[p]
        if a not in cells or b not in cells:
            continue
        ca, cb = cells[a], cells[b]
        by_seed = dict(zip(cb.seeds, cb.finals, strict=True))
        pairs = [
            (fa, by_seed[s]) for s, fa in zip(ca.seeds, ca.finals, strict=True) if s in by_seed
        ]
        w, lo = sum(x < y for x, y in pairs), sum(x > y for x, y in pairs)
        won, lost, tied = won + w, lost + lo, tied + len(pairs) - w - lo
        medians.append(0.5 if ca.median == cb.median else float(ca.median < cb.median))
        metric = PROBLEMS[p].metric
        rows.append(
            f"| {p} | {metric.table(ca.median):.4g} | {metric.table(cb.median):.4g} "
            f"| {w} / {lo} / {len(pairs) - w - lo} |"
        )
    if not medians:
        return [f"no problem has runs of both {a} and {b}"]
    share = sum(medians) / len(medians)
    rows += [
        "",
        f"{a} against {b}: seeds {won} won / {lost} lost / {tied} tied; better median on "
        f"{sum(medians):g} of {len(medians)} problems ({100 * share:.0f} %, ties half).",
    ]
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m bench.quality.pair", description=__doc__.split("\n")[0]
    )
    ap.add_argument("a", help="method label")
    ap.add_argument("b", help="method label to compare with")
    ap.add_argument("runs", type=Path, nargs="+", help="quality_runs.jsonl files")
    ap.add_argument("--problems", nargs="*", help="only these problems (default: all)")
    args = ap.parse_args(argv)
    records = [r for path in args.runs for r in load_records(path)]
    problems = args.problems or list(PROBLEMS)
    unknown = [p for p in problems if p not in PROBLEMS]
    if unknown:
        raise SystemExit(f"unknown problems {unknown}")
    print("\n".join(pair_lines(records, args.a, args.b, problems)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
