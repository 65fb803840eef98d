"""Evaluator side of `zo-model` studies: seeded directions, in-place perturbation, log replay.

Needs torch (`pip install "asktell-client[torch]"`). The parameters a study
trains are a module's parameters with `requires_grad`, in `parameters()`
order. The direction of seed s is drawn from a CPU `torch.Generator` seeded
with s, one float32 standard normal tensor per parameter in that order, then
moved to the parameter's device and dtype, so every machine and device gets
the same direction.

    with Client() as client:
        study = create_study(client, "mezo", optimizer="adam", lr=1e-3, scale=1e-3)
        evaluate(study, model, lambda m, seed: loss(m), max_pairs=1000)
        rebuild(initial_model(), study)   # initial weights + log -> current weights

Perturbing in place and back (MeZO) costs no extra memory but is not exact
in floating point: an evaluator's live weights drift from the replayed ones
(about 1e-6 after a thousand pairs on a small MLP) unless it passes
`exact=True` (one copy of the weights). `rebuild` from the initial weights
is exact.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from functools import partial
from typing import TYPE_CHECKING, Any

import torch

from .zo_types import (
    SCALE_PARAM,
    SEED_PARAM,
    STEP_PARAM,
    ZOLog,
    ZOLogStep,
    ZOOptimizer,
    zo_model_study,
)

if TYPE_CHECKING:
    from ._client import Client
    from ._handles import StudyHandle

__all__ = [
    "LogReplayer",
    "create_study",
    "directions",
    "evaluate",
    "fetch_log",
    "pair_losses",
    "perturbed",
    "rebuild",
    "trained_parameters",
]

LossFn = Callable[..., float]  # loss(module, seed=...) -> float
LOG_PAGE = 1000


def create_study(client: Client, name: str, **options: Any) -> StudyHandle:
    """Create a `zo-model` study; `options` as for `zo_types.zo_model_study`."""
    spec = zo_model_study(name, **options).model_dump(mode="json", exclude_none=True)
    return client.studies.create(**spec)


def trained_parameters(module: torch.nn.Module) -> list[torch.Tensor]:
    """The tensors a study perturbs and updates: parameters with `requires_grad`, in order."""
    return [p for p in module.parameters() if p.requires_grad]


def directions(seed: int, params: Sequence[torch.Tensor]) -> Iterator[torch.Tensor]:
    """z(seed), one tensor per parameter, like it in shape, device and dtype."""
    generator = torch.Generator(device="cpu")
    generator.manual_seed(int(seed))
    for p in params:
        z = torch.randn(p.shape, generator=generator, dtype=torch.float32)
        yield z.to(device=p.device, dtype=p.dtype)


@torch.no_grad()
def _shift(params: Sequence[torch.Tensor], seed: int, alpha: float) -> None:
    for p, z in zip(params, directions(seed, params), strict=True):
        p.add_(z, alpha=alpha)


@contextmanager
def perturbed(module: torch.nn.Module, seed: int, scale: float) -> Iterator[torch.nn.Module]:
    """Within the block the module's weights are w + scale * z(seed); afterwards w again."""
    params = trained_parameters(module)
    _shift(params, seed, scale)
    try:
        yield module
    finally:
        _shift(params, seed, -scale)


@torch.no_grad()
def pair_losses(
    module: torch.nn.Module,
    seed: int,
    scale: float,
    loss: Callable[[torch.nn.Module], float],
    exact: bool = False,
) -> tuple[float, float]:
    """(loss(w + scale z), loss(w - scale z)), perturbing the module in place.

    By default w comes back by a third shift (no copy; it drifts by rounding,
    about 1e-6 after a thousand pairs); `exact=True` keeps a copy of the
    trained parameters and restores them bit for bit.
    """
    params = trained_parameters(module)
    saved = [p.detach().clone() for p in params] if exact else None
    shifted = scale
    try:
        _shift(params, seed, scale)
        plus = float(loss(module))
        _shift(params, seed, -2 * scale)
        shifted = -scale
        minus = float(loss(module))
    finally:
        if saved is not None:
            for p, copy in zip(params, saved, strict=True):
                p.copy_(copy)
        else:
            _shift(params, seed, -shifted)
    return plus, minus


class LogReplayer:
    """Applies log steps, in order, to a module's weights (and keeps Adam's moments).

    ZO-SGD: w -= lr * g with g = sum_j grads[j] z(seeds[j]). ZO-Adam: the
    moments m, v of g with the bias corrections of step `step + 1`, then
    w -= lr * m_hat / (sqrt(v_hat) + eps).
    """

    def __init__(self, module: torch.nn.Module, optimizer: ZOOptimizer | None = None):
        self.params = trained_parameters(module)
        self.optimizer = optimizer or ZOOptimizer()
        self.applied = 0
        self._moments: list[tuple[torch.Tensor, torch.Tensor]] | None = None

    @torch.no_grad()
    def apply(self, entry: ZOLogStep) -> None:
        if entry.step != self.applied:
            raise ValueError(f"log step {entry.step} given after {self.applied} applied steps")
        if self.optimizer.name == "sgd":
            for seed, g in zip(entry.seeds, entry.grads, strict=True):
                _shift(self.params, seed, -entry.lr * g)
        else:
            self._adam(entry)
        self.applied += 1

    def _adam(self, entry: ZOLogStep) -> None:
        opt = self.optimizer
        if self._moments is None:
            self._moments = [(torch.zeros_like(p), torch.zeros_like(p)) for p in self.params]
        grad = [torch.zeros_like(p) for p in self.params]
        for seed, g in zip(entry.seeds, entry.grads, strict=True):
            for buf, z in zip(grad, directions(seed, self.params), strict=True):
                buf.add_(z, alpha=g)
        k = entry.step + 1
        c1, c2 = 1 - opt.beta1**k, 1 - opt.beta2**k
        for p, g, (m, v) in zip(self.params, grad, self._moments, strict=True):
            m.mul_(opt.beta1).add_(g, alpha=1 - opt.beta1)
            v.mul_(opt.beta2).addcmul_(g, g, value=1 - opt.beta2)
            denom = (v / c2).sqrt_().add_(opt.eps)
            p.addcdiv_(m, denom, value=-entry.lr / c1)

    def apply_log(self, log: ZOLog, until: int | None = None) -> None:
        """Apply the entries of `log` not applied yet, up to step `until` (exclusive)."""
        self.optimizer = log.optimizer
        for entry in log.entries:
            if until is not None and entry.step >= until:
                break
            if entry.step >= self.applied:
                self.apply(entry)

    def sync(self, study: StudyHandle, until: int | None = None) -> None:
        """Fetch and apply the study's closed steps (up to step `until`, exclusive)."""
        while until is None or self.applied < until:
            limit = LOG_PAGE if until is None else min(LOG_PAGE, until - self.applied)
            page = fetch_log(study, since=self.applied, limit=limit)
            self.optimizer = page.optimizer
            self.apply_log(page, until)
            if not page.entries:
                if until is not None and self.applied < until:
                    raise RuntimeError(f"the log has {page.steps} steps; step {until} needed")
                return


def fetch_log(study: StudyHandle, since: int = 0, limit: int = LOG_PAGE) -> ZOLog:
    """One page of the study's log: closed steps from `since` on."""
    return study._client._get(ZOLog, f"/v1/studies/{study.id}/zo-log", since=since, limit=limit)


def rebuild(module: torch.nn.Module, study: StudyHandle) -> LogReplayer:
    """Turn a module holding the initial weights into the study's current weights."""
    replayer = LogReplayer(module)
    replayer.sync(study)
    return replayer


def evaluate(
    study: StudyHandle,
    module: torch.nn.Module,
    loss: LossFn,
    *,
    max_pairs: int | None = None,
    until_step: int | None = None,
    evaluator: str | None = None,
    replayer: LogReplayer | None = None,
    exact: bool = False,
) -> LogReplayer:
    """Evaluate pairs until `max_pairs` are told or the study reaches step `until_step`.

    `module` holds the initial weights (or `replayer`'s); the loop replays
    the log before each pair, so an evaluator may join at any step.
    `loss(module, seed=seed)` returns a float; the seed can pick a minibatch
    that both sides of the pair share. Returns the replayer; the module holds
    the weights of the last step it applied (`replayer.sync(study)` catches up).
    `exact` restores the weights after each pair from a copy (see `pair_losses`).
    """
    replayer = replayer or LogReplayer(module)
    told = 0
    while max_pairs is None or told < max_pairs:
        if until_step is not None and replayer.applied >= until_step:
            break
        (trial,) = study.ask(1, evaluator)
        params = trial.params
        step, seed, scale = int(params[STEP_PARAM]), int(params[SEED_PARAM]), params[SCALE_PARAM]
        if until_step is not None and step >= until_step:
            trial.fail("evaluator done")
            replayer.sync(study, until=until_step)
            break
        if step < replayer.applied:
            trial.fail(f"step {step} is behind the evaluator's step {replayer.applied}")
            continue
        replayer.sync(study, until=step)
        with trial:
            losses = partial(loss, seed=seed)
            plus, minus = pair_losses(module, seed, float(scale), losses, exact=exact)
            if not (math.isfinite(plus) and math.isfinite(minus)):
                trial.fail(f"non-finite loss {plus}, {minus}")
                continue
            trial.tell({"loss_plus": plus, "loss_minus": minus})
        told += 1
    return replayer
