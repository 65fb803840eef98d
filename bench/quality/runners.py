"""Run (problem, method, seed) jobs, sequentially or in worker processes."""

from __future__ import annotations

import json
import logging
import math
import multiprocessing
import os
import time
import traceback
import warnings
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bench.quality.optimizers import BASELINES, Method, asktell_method
from bench.quality.problems import PROBLEMS

__all__ = ["Job", "RunRecord", "load_records", "method_by_name", "run_job", "run_jobs"]


@dataclass(frozen=True)
class Job:
    """One optimization run; `base_url` set means asktell goes through HTTP."""

    problem: str
    method: str
    seed: int
    base_url: str | None = None
    budget_override: int | None = None

    @property
    def budget(self) -> int:
        return self.budget_override or PROBLEMS[self.problem].budget

    @property
    def mode(self) -> str:
        return "http" if self.base_url and self.method.startswith("asktell:") else "in-process"

    def key(self) -> tuple[str, str, int, int, str]:
        return (self.problem, self.method, self.seed, self.budget, self.mode)

    def cost(self) -> float:
        """A rough relative cost, to start the slow jobs first."""
        return self.budget * (self.budget if method_by_name(self.method).model_based else 1)


@dataclass
class RunRecord:
    """What one run produced: per-evaluation values, best-so-far losses and timings.

    `ask_seconds` is the optimizer's own time (ask plus tell), `eval_seconds` the
    objective's.
    """

    problem: str
    method: str
    seed: int
    budget: int
    mode: str
    values: list[dict[str, float]] = field(default_factory=list)
    losses: list[float] = field(default_factory=list)
    ask_seconds: float = 0.0
    eval_seconds: float = 0.0
    wall_seconds: float = 0.0
    error: str | None = None

    @property
    def final(self) -> float:
        """Final loss; a run that failed or stopped short counts as infinitely bad."""
        if self.error or len(self.losses) < self.budget:
            return math.inf
        return self.losses[-1]

    def key(self) -> tuple[str, str, int, int, str]:
        return (self.problem, self.method, self.seed, self.budget, self.mode)

    def to_json(self) -> str:
        data = asdict(self)
        data["losses"] = [x if math.isfinite(x) else None for x in self.losses]
        return json.dumps(data)

    @classmethod
    def from_json(cls, line: str) -> RunRecord:
        data = json.loads(line)
        data["losses"] = [math.inf if x is None else x for x in data["losses"]]
        return cls(**data)


def method_by_name(name: str) -> Method:
    if name.startswith("asktell:"):
        return asktell_method(name.split(":", 1)[1])
    return BASELINES[name]


def run_job(job: Job) -> RunRecord:
    """Run one job: ask, evaluate and tell `budget` times, q = 1."""
    problem = PROBLEMS[job.problem]
    record = RunRecord(job.problem, job.method, job.seed, job.budget, job.mode)
    start = time.perf_counter()
    instance = None
    try:
        instance = problem.instance(job.seed)
        optimizer = method_by_name(job.method).make(problem, job.seed, job.budget, job.base_url)
        try:
            for _ in range(job.budget):
                t0 = time.perf_counter()
                params = optimizer.ask()
                t1 = time.perf_counter()
                values = instance.evaluate(params)
                t2 = time.perf_counter()
                record.values.append(values)
                optimizer.tell(values)
                record.ask_seconds += (t1 - t0) + (time.perf_counter() - t2)
                record.eval_seconds += t2 - t1
        finally:
            optimizer.close()
        record.losses = [float(x) for x in instance.trace(record.values)]
    except Exception:
        record.error = traceback.format_exc(limit=8)
        if instance is not None and record.values:
            record.losses = [float(x) for x in instance.trace(record.values)]
    record.wall_seconds = time.perf_counter() - start
    return record


def _init_worker() -> None:
    """One thread per run, and quiet libraries."""
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import torch

    torch.set_num_threads(1)
    warnings.filterwarnings("ignore")
    logging.getLogger().setLevel(logging.WARNING)
    for name in ("optuna", "ax", "botorch", "asktell"):
        logging.getLogger(name).setLevel(logging.ERROR)


def run_jobs(
    jobs: Iterable[Job], workers: int = 1, on_done: Callable[[RunRecord], None] | None = None
) -> Iterator[RunRecord]:
    """Run `jobs` (slowest first) in `workers` processes; yield records as they finish."""
    ordered = sorted(jobs, key=lambda j: -j.cost())
    if workers <= 1:
        _init_worker()
        for job in ordered:
            record = run_job(job)
            if on_done:
                on_done(record)
            yield record
        return
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(workers, mp_context=context, initializer=_init_worker) as pool:
        futures = {pool.submit(run_job, job): job for job in ordered}
        for future in as_completed(futures):
            try:
                record = future.result()
            except Exception as exc:
                job = futures[future]
                record = RunRecord(job.problem, job.method, job.seed, job.budget, job.mode)
                record.error = f"worker process failed: {exc!r}"
            if on_done:
                on_done(record)
            yield record


def load_records(path: Path) -> list[RunRecord]:
    """Records of an earlier run (JSON lines); the last record of a key wins."""
    if not path.exists():
        return []
    by_key: dict[Any, RunRecord] = {}
    for line in path.read_text().splitlines():
        if line.strip():
            record = RunRecord.from_json(line)
            by_key[record.key()] = record
    return list(by_key.values())
