"""Zeroth-order training of an MLP on scikit-learn's digits, through `zo-model` studies.

The problem: a 64-16-10 tanh MLP (1,210 weights) on `load_digits` (bundled
with scikit-learn, nothing downloaded), full-batch cross-entropy on 80% of the
images; accuracy on the other 20%. Every method starts from the same weights.

Part 1, one `zo-model` study three ways (ZO-Adam, 2 pairs per step):
  (a) over HTTP: a real `asktell serve` (SQLite) and two evaluator processes
      sharing each step; the curve is the train loss of the weights rebuilt
      from the study's log;
  (b) the same run in one process: the `zo-model` strategy driven in-process,
      pairs evaluated one after the other;
  (c) first-order Adam on the same steps.
Part 2, equal evaluations: `zo-adam` (`zo-model` with ZO-Adam, 1 pair per
  step), `zo-sgd`, plain finite differences (forward differences, d + 1
  evaluations per gradient, Adam step), `random` and `cma-es` (the service's
  strategies in-process, over the weights in a box of half-width 1 around
  the initial ones).
  ZO curves are the loss at the iterate (best so far), the others the best
  point evaluated. Rates: ZO-Adam lr best of {1e-3, 3e-3, 1e-2, 3e-2} and
  ZO-SGD lr best of {1e-3, ..., 1e-1} on one seed; cma-es sigma0 not tuned.
Part 3, ZO-Adam given 100x the steps of first-order Adam (best Adam lr of a
  small sweep), final train losses compared.
Also: the bytes of one ask and one tell (request and response, body and headers).

    nice -n 10 python -m bench.zo_mlp --quick     # a minute; what the test runs
    nice -n 10 python -m bench.zo_mlp --write     # full run; appends to bench/RESULTS.md
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import numpy as np
import torch

from asktell.core.snapshots import StudySnapshot, TrialRecord
from asktell.core.space import SearchSpace
from asktell.core.states import TrialState
from asktell.strategies._population import LocalStudy, run_study
from asktell.strategies.registry import get_strategy
from asktell.strategies.zo_model import ZOModel
from asktell_client import Client
from asktell_client.types import FloatParam
from asktell_client.zo import LogReplayer, create_study, evaluate, fetch_log, pair_losses
from asktell_client.zo_types import (
    MINUS_METRIC,
    PLUS_METRIC,
    ZOLog,
    ZOLogStep,
    ZOOptimizer,
    zo_model_study,
)
from bench.quality.server import asktell_server

ROOT = Path(__file__).resolve().parents[1]
RESULTS_MD = ROOT / "bench" / "RESULTS.md"
PLOT = ROOT / "bench" / "results" / "zo_mlp.png"
HIDDEN = 16
SEED = 0
ZO_ADAM = {"optimizer": "adam", "lr": 1e-2, "scale": 1e-3}
ZO_SGD = {"optimizer": "sgd", "lr": 0.1, "scale": 1e-3}
CMA_SIGMA0 = 0.05  # of the box's width 2: 0.1 in weight units
FD_STEP, FD_LR = 1e-3, 1e-2
ADAM_LRS = (1e-3, 3e-3, 1e-2, 3e-2)
BOX = 1.0

Curve = list[tuple[int, float]]  # (evaluations or steps, train loss)


# --------------------------------------------------------------------------- problem


@dataclass
class Problem:
    X: torch.Tensor
    y: torch.Tensor
    X_test: torch.Tensor
    y_test: torch.Tensor
    evaluations: int = 0

    @classmethod
    def digits(cls) -> Problem:
        from sklearn.datasets import load_digits

        X, y = load_digits(return_X_y=True)
        order = np.random.default_rng(SEED).permutation(len(X))
        cut = int(0.8 * len(X))
        train, test = order[:cut], order[cut:]
        mean, std = X[train].mean(0), X[train].std(0) + 1e-6

        def prep(rows):
            return torch.tensor((X[rows] - mean) / std, dtype=torch.float32)

        return cls(prep(train), torch.tensor(y[train]), prep(test), torch.tensor(y[test]))

    def loss(self, model: torch.nn.Module) -> float:
        """The objective as a method sees it: counted."""
        self.evaluations += 1
        return self.train_loss(model)

    @torch.no_grad()
    def train_loss(self, model: torch.nn.Module) -> float:
        """The same value for the curves: not counted."""
        return float(torch.nn.functional.cross_entropy(model(self.X), self.y))

    @torch.no_grad()
    def accuracy(self, model: torch.nn.Module) -> float:
        return float((model(self.X_test).argmax(1) == self.y_test).float().mean())


def initial_model() -> torch.nn.Module:
    torch.manual_seed(SEED)
    return torch.nn.Sequential(
        torch.nn.Linear(64, HIDDEN), torch.nn.Tanh(), torch.nn.Linear(HIDDEN, 10)
    )


def flat(model: torch.nn.Module) -> torch.Tensor:
    return torch.nn.utils.parameters_to_vector(model.parameters()).detach().clone()


def set_flat(model: torch.nn.Module, w: np.ndarray | torch.Tensor) -> None:
    vector = torch.as_tensor(np.asarray(w, dtype=np.float32))
    torch.nn.utils.vector_to_parameters(vector, model.parameters())


# --------------------------------------------------------------------------- methods


def first_order_adam(problem: Problem, steps: int, lr: float) -> Curve:
    model = initial_model()
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    curve = [(0, problem.train_loss(model))]
    for t in range(steps):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(problem.X), problem.y).backward()
        opt.step()
        curve.append((t + 1, problem.train_loss(model)))
    return curve


@dataclass
class InProcessZO:
    """The `zo-model` strategy driven in one process: ask, evaluate the pair, tell, replay.

    Only the open step's trials go into each snapshot (the strategy reads no other).
    """

    options: dict
    seed: int = SEED
    state: dict | None = None
    trials: list[TrialRecord] = field(default_factory=list)

    def __post_init__(self) -> None:
        spec = zo_model_study("in-process", seed=self.seed, options=self.options)
        self.strategy = ZOModel(spec.strategy.options)
        self.space = SearchSpace(spec.space)
        self.objectives = spec.objectives
        self.settings = spec.settings

    def ask(self) -> dict:
        snapshot = StudySnapshot(
            study_id=1,
            space=self.space,
            objectives=self.objectives,
            settings=self.settings,
            completed=[t for t in self.trials if t.values is not None],
        )
        proposal = self.strategy.suggest(snapshot, 1, self.state)
        self.state = proposal.state
        step = self.state["t"]
        self.trials = [t for t in self.trials if t.params["zo_step"] == step]
        return proposal.points[0]

    def tell(self, params: dict, plus: float, minus: float) -> None:
        values = {PLUS_METRIC: plus, MINUS_METRIC: minus}
        self.trials.append(TrialRecord(len(self.trials), TrialState.completed, params, values))

    def log_since(self, step: int) -> list[ZOLogStep]:
        return [ZOLogStep.model_validate(e) for e in (self.state or {}).get("log", [])[step:]]


def zo_in_process(
    problem: Problem, options: dict, steps: int, record_every: int = 1, seed: int = SEED
) -> tuple[Curve, Curve, torch.nn.Module]:
    """Train for `steps` closed steps; curves of train loss against steps and evaluations."""
    model = initial_model()
    driver = InProcessZO(options, seed=seed)
    optimizer = ZOOptimizer(name=options["optimizer"])
    replayer = LogReplayer(model, optimizer)
    start = problem.evaluations
    by_step = [(0, problem.train_loss(model))]
    by_evals = list(by_step)
    while replayer.applied < steps:
        params = driver.ask()
        for entry in driver.log_since(replayer.applied):
            replayer.apply(entry)
            if replayer.applied % record_every == 0 or replayer.applied == steps:
                value = problem.train_loss(model)
                by_step.append((replayer.applied, value))
                by_evals.append((problem.evaluations - start, value))
        if replayer.applied >= steps:
            break
        seed, scale = params["zo_seed"], params["zo_scale"]
        plus, minus = pair_losses(model, seed, scale, problem.loss)
        driver.tell(params, plus, minus)
    return by_step, by_evals, model


def finite_differences(problem: Problem, evaluations: int) -> Curve:
    """Forward differences on every weight (d + 1 evaluations per gradient), Adam steps."""
    model = initial_model()
    params = list(model.parameters())
    opt = torch.optim.Adam(params, lr=FD_LR)
    start = problem.evaluations
    curve = [(0, problem.train_loss(model))]
    while problem.evaluations - start + len(flat(model)) + 1 <= evaluations:
        base = problem.loss(model)
        with torch.no_grad():
            for p in params:
                p.grad = torch.zeros_like(p)
                view, grad = p.view(-1), p.grad.view(-1)
                for i in range(view.numel()):
                    old = float(view[i])
                    view[i] = old + FD_STEP
                    grad[i] = (problem.loss(model) - base) / FD_STEP
                    view[i] = old
        opt.step()
        curve.append((problem.evaluations - start, problem.train_loss(model)))
    return curve


def strategy_on_weights(
    problem: Problem, name: str, options: dict, evaluations: int, batch: int, seed: int = SEED
) -> Curve:
    """A service strategy (in-process) over the weights in a box around the initial ones."""
    model = initial_model()
    w0 = flat(model).numpy()
    names = [f"w{i:04d}" for i in range(len(w0))]
    space = [
        FloatParam(name=n, low=float(w - BOX), high=float(w + BOX))
        for n, w in zip(names, w0, strict=True)
    ]
    study = LocalStudy.over(space, seed=seed)
    best = [problem.train_loss(model)]
    curve = [(0, best[0])]

    def f(params: dict) -> float:
        set_flat(model, [params[n] for n in names])
        value = problem.loss(model)
        best.append(min(best[-1], value))
        return value

    strategy = get_strategy(name)(options)
    run_study(strategy, study, f, evaluations, batch=batch)
    step = max(1, evaluations // 50)
    curve += [(i, best[i]) for i in range(step, len(best), step)]
    return curve


# --------------------------------------------------------------------------- HTTP run


def evaluator_main(argv: list[str]) -> None:
    """One evaluator process: pairs of the study until it reaches `--until-step`."""
    parser = argparse.ArgumentParser(prog="zo_mlp evaluator")
    parser.add_argument("--url", required=True)
    parser.add_argument("--study", type=int, required=True)
    parser.add_argument("--name", required=True)
    parser.add_argument("--until-step", type=int, required=True)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    problem = Problem.digits()
    model = initial_model()
    with Client(base_url=args.url, max_retries=5, timeout=60.0) as client:
        study = client.studies.get(args.study)
        started = time.perf_counter()
        replayer = evaluate(
            study,
            model,
            lambda m, seed: problem.loss(m),
            until_step=args.until_step,
            evaluator=args.name,
        )
        seconds = time.perf_counter() - started
    report = {"name": args.name, "steps": replayer.applied, "losses": problem.evaluations}
    print(json.dumps({**report, "seconds": seconds}))


def http_run(problem: Problem, steps: int, evaluators: int) -> dict:
    """A `zo-model` study on a real server with `evaluators` evaluator processes."""
    with asktell_server() as url, Client(base_url=url, timeout=60.0) as client:
        options = {**ZO_ADAM, "directions": evaluators}
        study = create_study(client, "zo-mlp", seed=SEED, **options)
        started = time.perf_counter()
        command = [sys.executable, "-m", "bench.zo_mlp", "evaluator", "--url", url]
        command += ["--study", str(study.id), "--until-step", str(steps)]
        procs = [
            subprocess.Popen(
                [*command, "--name", f"e{i}"],
                cwd=ROOT,
                stdout=subprocess.PIPE,
                text=True,
                env={**os.environ, "OMP_NUM_THREADS": "1"},
            )
            for i in range(evaluators)
        ]
        reports = []
        for proc in procs:
            out, _ = proc.communicate(timeout=600)
            if proc.returncode:
                raise RuntimeError(f"evaluator exited {proc.returncode}: {out}")
            reports.append(json.loads(out.strip().splitlines()[-1]))
        seconds = time.perf_counter() - started
        log = fetch_log(study, limit=steps)
        trials = list(study.trials())
        sizes = request_sizes(url, client)
    evaluators_per_step = _evaluators_per_step(log, trials)
    model = initial_model()
    replayer = LogReplayer(model, log.optimizer)
    curve = [(0, problem.train_loss(model))]
    for entry in log.entries:
        replayer.apply(entry)
        curve.append((replayer.applied, problem.train_loss(model)))
    return {
        "curve": curve,
        "seconds": seconds,
        "reports": reports,
        "trials": len(trials),
        "pairs_used": sum(len(e.seeds) for e in log.entries),
        "shared_steps": evaluators_per_step,
        "sizes": sizes,
        "log_bytes_per_step": len(log.model_dump_json()) / max(len(log.entries), 1),
        "accuracy": problem.accuracy(model),
    }


def _evaluators_per_step(log: ZOLog, trials: list) -> float:
    """The fraction of steps whose pairs came from more than one evaluator."""
    by_seed = {t.params["zo_seed"]: t.evaluator for t in trials if t.values}
    shared = [len({by_seed[s] for s in e.seeds}) > 1 for e in log.entries]
    return sum(shared) / max(len(shared), 1)


def request_sizes(url: str, client: Client) -> dict[str, dict[str, int]]:
    """Bytes of one ask and one tell on a fresh study: bodies, and bodies plus headers."""
    study = create_study(client, "zo-mlp-sizes", seed=SEED, **ZO_ADAM)
    sizes: dict[str, dict[str, int]] = {}
    with httpx.Client(base_url=url) as http:
        ask_body = {"count": 1, "evaluator": "e0"}
        ask = http.post(f"/v1/studies/{study.id}/trials:ask", json=ask_body)
        trial = ask.json()["trials"][0]
        sizes["ask"] = _sizes(ask)
        tell_body = {"values": {PLUS_METRIC: 2.3025850929940455, MINUS_METRIC: 2.302585093}}
        sizes["tell"] = _sizes(http.post(f"/v1/trials/{trial['id']}:tell", json=tell_body))
    return sizes


def _sizes(response: httpx.Response) -> dict[str, int]:
    request = response.request

    def head(headers: httpx.Headers) -> int:
        return sum(len(k) + len(v) + 4 for k, v in headers.raw)

    return {
        "request_body": len(request.content),
        "request_total": len(request.content) + head(request.headers) + len(str(request.url)),
        "response_body": len(response.content),
        "response_total": len(response.content) + head(response.headers) + 17,
    }


# --------------------------------------------------------------------------- report


def running_min(curve: Curve) -> Curve:
    return [(x, min(v for _, v in curve[: i + 1])) for i, (x, _) in enumerate(curve)]


def equal_evaluations(
    problem: Problem, budget: int, seeds: range
) -> tuple[dict[str, Curve], list[list[str]]]:
    """Every method with `budget` evaluations per seed: curves of the first seed, table rows."""
    pairs = budget // 2
    methods: dict[str, Callable[[int], Curve]] = {
        "zo-adam": lambda s: running_min(
            zo_in_process(problem, {**ZO_ADAM, "directions": 1}, pairs, 10, seed=s)[1]
        ),
        "zo-sgd": lambda s: running_min(
            zo_in_process(problem, {**ZO_SGD, "directions": 1}, pairs, 10, seed=s)[1]
        ),
        "finite differences": lambda s: finite_differences(problem, budget),
        "random": lambda s: strategy_on_weights(problem, "random", {}, budget, 50, seed=s),
        "cma-es": lambda s: strategy_on_weights(
            problem, "cma-es", {"sigma0": CMA_SIGMA0}, budget, 25, seed=s
        ),
    }
    curves: dict[str, Curve] = {}
    rows = []
    for name, method in methods.items():
        finals, started = [], time.perf_counter()
        runs = [0] if name == "finite differences" else seeds  # deterministic
        for s in runs:
            curve = method(s)
            curves.setdefault(name, curve)
            finals.append(final(curve))
        seconds = (time.perf_counter() - started) / len(runs)
        finals.sort()
        rows.append(
            [
                name,
                f"{finals[len(finals) // 2]:.4f}",
                f"{finals[0]:.4f} .. {finals[-1]:.4f}",
                str(len(runs)),
                f"{seconds:.1f}",
            ]
        )
    rows.sort(key=lambda r: float(r[1]))
    return curves, rows


def final(curve: Curve) -> float:
    return curve[-1][1]


def table(rows: list[list[str]], header: list[str]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def plot(
    part1: dict[str, Curve], part2: dict[str, Curve], part3: dict[str, Curve], path: Path
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(18, 4.5))
    for name, curve in part1.items():
        axes[0].plot(*zip(*curve, strict=True), label=name)
    axes[0].set(xlabel="optimizer step", ylabel="train cross-entropy", yscale="log")
    axes[0].set_title("one zo-model study (ZO-Adam, 2 pairs/step) vs first-order Adam")
    for name, curve in part2.items():
        axes[1].plot(*zip(*curve, strict=True), label=name)
    axes[1].set(xlabel="loss evaluations", ylabel="train cross-entropy (best so far)")
    axes[1].set(yscale="log")
    axes[1].set_title("equal evaluations, d = 1,210")
    for name, curve in part3.items():
        axes[2].plot(*zip(*curve, strict=True), label=name, marker=".")
    axes[2].set(xlabel="optimizer step", ylabel="train cross-entropy", xscale="log")
    axes[2].set(yscale="log")
    axes[2].set_title("first-order Adam vs ZO-Adam with 100x the steps")
    for ax in axes:
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)


def run(args: argparse.Namespace) -> str:
    torch.set_num_threads(1)
    problem = Problem.digits()
    d = len(flat(initial_model()))
    http_steps = 40 if args.quick else 400
    budget = 600 if args.quick else 4000
    adam_steps = 10 if args.quick else 100
    timings: dict[str, float] = {}

    def timed(name: str, fn: Callable):
        start = time.perf_counter()
        out = fn()
        timings[name] = time.perf_counter() - start
        return out

    http = timed("http", lambda: http_run(problem, http_steps, evaluators=2))
    options2 = {**ZO_ADAM, "directions": 2}
    local_curve, _, local_model = timed(
        "in-process", lambda: zo_in_process(problem, options2, http_steps)
    )
    adam_same = first_order_adam(problem, http_steps, ZO_ADAM["lr"])
    part1 = {
        "(a) HTTP, 2 evaluator processes": http["curve"],
        "(b) same run, one process": local_curve,
        f"(c) first-order Adam lr={ZO_ADAM['lr']}": adam_same,
    }
    gap = max(abs(a[1] - b[1]) for a, b in zip(http["curve"], local_curve, strict=True))

    one_pair = {**ZO_ADAM, "directions": 1}
    part2, part2_rows = equal_evaluations(problem, budget, seeds=range(args.seeds))

    adam_runs = {lr: first_order_adam(problem, adam_steps, lr) for lr in ADAM_LRS}
    best_lr = min(adam_runs, key=lambda lr: final(adam_runs[lr]))
    long_steps = 100 * adam_steps
    long_curve, _, long_model = timed(
        "zo-adam 100x",
        lambda: zo_in_process(problem, one_pair, long_steps, max(1, long_steps // 200)),
    )
    adam_model_loss = final(adam_runs[best_lr])

    out = [
        f"d = {d} weights, train {len(problem.y)} / test {len(problem.y_test)} images"
        f"{' (--quick)' if args.quick else ''}",
        "",
        f"Part 1: one zo-model study, ZO-Adam lr={ZO_ADAM['lr']} scale={ZO_ADAM['scale']}, "
        f"2 pairs per step, {http_steps} steps",
        "",
        table(
            [
                [
                    "(a) HTTP, real server + 2 evaluator processes",
                    f"{final(http['curve']):.4f}",
                    f"{http['accuracy']:.3f}",
                    f"{timings['http']:.1f}",
                ],
                [
                    "(b) the same run in one process",
                    f"{final(local_curve):.4f}",
                    f"{problem.accuracy(local_model):.3f}",
                    f"{timings['in-process']:.1f}",
                ],
                [f"(c) first-order Adam, lr {ZO_ADAM['lr']}", f"{final(adam_same):.4f}", "", ""],
            ],
            ["run", f"train loss at step {http_steps}", "test accuracy", "seconds"],
        ),
        "",
        f"Largest |loss(a) - loss(b)| over the {http_steps} steps: {gap:.2e}; "
        f"steps whose pairs came from both evaluators: {http['shared_steps']:.0%}; "
        f"{http['pairs_used']} pairs used of {http['trials']} handed out; evaluator "
        f"processes busy {max(r['seconds'] for r in http['reports']):.1f} s "
        f"(from their first ask; {timings['http']:.1f} s with server start and imports).",
        "",
        table(
            [
                [
                    name,
                    str(s["request_body"]),
                    str(s["request_total"]),
                    str(s["response_body"]),
                    str(s["response_total"]),
                ]
                for name, s in http["sizes"].items()
            ],
            [
                "request",
                "body sent",
                "sent incl. headers",
                "body received",
                "received incl. headers",
            ],
        ),
        "",
        f"Log: {http['log_bytes_per_step']:.0f} bytes of JSON per step (2 pairs); "
        f"model weights: {4 * d} bytes.",
        "",
        f"Part 2: best train loss after {budget} loss evaluations (d = {d}; ZO and finite "
        "differences: loss at the iterate; random, cma-es: best point evaluated)",
        "",
        table(part2_rows, ["method", "median best train loss", "range", "runs", "s/run"]),
        "",
        f"Part 3: first-order Adam, {adam_steps} steps (lr sweep {list(ADAM_LRS)}), "
        f"against ZO-Adam with {long_steps} steps (1 pair each, {2 * long_steps} evaluations)",
        "",
        table(
            [[f"Adam lr {lr}", f"{final(c):.4f}"] for lr, c in adam_runs.items()]
            + [
                [
                    f"ZO-Adam lr {ZO_ADAM['lr']}, {long_steps} steps",
                    f"{final(long_curve):.4f} "
                    f"({final(long_curve) / adam_model_loss:.2f}x the best Adam's)",
                ]
            ],
            ["method", "final train loss"],
        ),
        "",
        f"Test accuracy: ZO-Adam 100x {problem.accuracy(long_model):.3f}.",
    ]
    report = "\n".join(out)
    part3 = {
        f"first-order Adam lr={best_lr}": adam_runs[best_lr][1:],
        f"ZO-Adam lr={ZO_ADAM['lr']}, 1 pair/step": long_curve[1:],
    }
    plot(part1, part2, part3, args.plot)
    return report


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["evaluator"]:
        evaluator_main(argv[1:])
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small budgets, for the test")
    parser.add_argument("--write", action="store_true", help="append to bench/RESULTS.md")
    parser.add_argument("--plot", type=Path, default=PLOT)
    parser.add_argument("--seeds", type=int, default=None, help="seeds of part 2 (3; quick 1)")
    args = parser.parse_args(argv)
    args.seeds = args.seeds or (1 if args.quick else 3)
    started = time.perf_counter()
    report = run(args)
    print(report)
    print(f"\n{time.perf_counter() - started:.0f} s in all; plot: {args.plot}")
    if args.write:
        command = "nice -n 10 python -m bench.zo_mlp --write"
        with RESULTS_MD.open("a") as f:
            f.write(f"\n## Zeroth-order MLP training with `zo-model` studies\n\n`{command}`\n\n")
            f.write(report + "\n")


if __name__ == "__main__":
    main()
