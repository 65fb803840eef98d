"""Training a PFN on the HEBO+ GP prior: borders, batches, loop, checkpoints.

A checkpoint directory holds `model.safetensors` (weights and bucket borders),
`config.json` (architecture plus training meta: step, datasets seen, losses)
and `optimizer.safetensors` (AdamW moments, for resuming). Nothing is pickled.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file
from torch import Tensor

from asktell.surrogates.pfn.bar import make_borders
from asktell.surrogates.pfn.model import CONFIG, PFN, PFNConfig, load_pfn, save_pfn, standardize
from asktell.surrogates.pfn.prior import HyperPrior, sample_batch

__all__ = ["TrainConfig", "compute_borders", "prior_batch", "train"]

OPTIMIZER = "optimizer.safetensors"
TARGET_CLIP = 100.0
MIN_BORDER_CTX = 4


@dataclass
class TrainConfig:
    """Optimization settings of a training run."""

    steps: int = 1000
    batch_size: int = 32
    lr: float = 1e-3
    warmup: float = 0.05
    weight_decay: float = 0.0
    seed: int = 0
    checkpoint_every: int = 100
    border_batches: int = 100
    dim_curriculum: int = 0
    """Steps over which the largest sampled input dimension ramps from 1 to `max_dim` (0: off)."""


def prior_batch(
    cfg: PFNConfig,
    batch_size: int,
    gen: torch.Generator,
    n_ctx: int | None = None,
    d: int | None = None,
    prior: HyperPrior | None = None,
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """One training batch, standardized by the context statistics (float32).

    Returns:
        `x_ctx` (`b x n x D`), `y_ctx` (`b x n`), `x_query` (`b x m x D`), `y_query` (`b x m`)
        with `n + m = cfg.seq_len`; `n` uniform on `1..cfg.max_ctx` unless given.
    """
    if n_ctx is None:
        n_ctx = int(torch.randint(1, cfg.max_ctx + 1, (1,), generator=gen))
    batch = sample_batch(batch_size, cfg.seq_len, n_ctx, cfg.max_dim, gen, prior, d)
    x, y = batch.x.float(), batch.y.float()
    mu, sd = standardize(y[:, :n_ctx])
    y = (y - mu) / sd
    return x[:, :n_ctx], y[:, :n_ctx], x[:, n_ctx:], y[:, n_ctx:]


def compute_borders(cfg: PFNConfig, gen: torch.Generator, n_batches: int = 100) -> Tensor:
    """Bucket borders from prior targets with at least `MIN_BORDER_CTX` context points."""
    targets = []
    for _ in range(n_batches):
        n = int(torch.randint(MIN_BORDER_CTX, cfg.max_ctx + 1, (1,), generator=gen))
        targets.append(prior_batch(cfg, 64, gen, n_ctx=n)[3].flatten())
    return make_borders(torch.cat(targets), cfg.num_buckets, cfg.border_clip)


def _lr_factor(step: int, total: int, warmup: float) -> float:
    w = max(1, int(warmup * total))
    if step < w:
        return (step + 1) / w
    return 0.5 * (1 + math.cos(math.pi * min(1.0, (step - w) / max(1, total - w))))


def _save_optimizer(opt: torch.optim.Optimizer, path: Path) -> None:
    tensors = {}
    for i, state in opt.state_dict()["state"].items():
        for key, value in state.items():
            tensors[f"{i}.{key}"] = torch.as_tensor(value).detach().cpu().contiguous()
    tmp = path.with_suffix(".tmp")
    save_file(tensors, str(tmp))
    tmp.replace(path)


def _load_optimizer(opt: torch.optim.Optimizer, path: Path) -> None:
    flat = load_file(str(path))
    sd = opt.state_dict()
    state: dict[int, dict[str, Tensor]] = {}
    for name, value in flat.items():
        i, key = name.split(".", 1)
        state.setdefault(int(i), {})[key] = value
    sd["state"] = state
    opt.load_state_dict(sd)


def train(
    cfg: PFNConfig,
    tcfg: TrainConfig,
    out_dir: Path | str,
    *,
    device: str = "cpu",
    resume: bool = False,
    time_limit: float | None = None,
    callback: Callable[[int, float], None] | None = None,
    init_from: Path | str | None = None,
) -> tuple[PFN, dict[str, Any]]:
    """Train (or resume) a PFN and checkpoint it to `out_dir` every `checkpoint_every` steps.

    Args:
        time_limit: Stop (and checkpoint) after this many seconds of this run.
        callback: Called with `(step, loss)` after every step.
        init_from: Start from this checkpoint's weights and borders with a fresh
            optimizer and schedule (a warm restart); its history is kept under `init`.

    Returns:
        The model and the training meta written to `config.json`.
    """
    out = Path(out_dir)
    gen = torch.Generator().manual_seed(tcfg.seed)
    meta: dict[str, Any] = {"step": 0, "datasets_seen": 0, "wall_seconds": 0.0, "losses": []}
    if resume and (out / CONFIG).exists():
        model, doc = load_pfn(out, device)
        cfg = model.config
        meta.update({k: doc[k] for k in meta if k in doc})
        gen.manual_seed(tcfg.seed + 7919 * int(meta["step"]))
    elif init_from is not None:
        model, doc = load_pfn(init_from, device)
        cfg = model.config
        meta["init"] = {k: doc.get(k) for k in ("step", "datasets_seen", "wall_seconds", "init")}
        gen.manual_seed(tcfg.seed + 104_729)
    else:
        model = PFN(cfg, compute_borders(cfg, gen, tcfg.border_batches)).to(device)
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=tcfg.lr, weight_decay=tcfg.weight_decay)
    if resume and (out / OPTIMIZER).exists():
        _load_optimizer(opt, out / OPTIMIZER)
    meta["prior"] = "hebo+ (PFNs4BO): Matern-3/2 ARD GP, see asktell.surrogates.pfn.prior"
    meta["train"] = {k: v for k, v in vars(tcfg).items()}
    meta["device"] = device
    start, window, last_save = time.perf_counter(), [], int(meta["step"])
    wall0 = float(meta["wall_seconds"])

    def checkpoint() -> None:
        meta["wall_seconds"] = round(wall0 + time.perf_counter() - start, 1)
        save_pfn(model, out, meta)
        _save_optimizer(opt, out / OPTIMIZER)

    while meta["step"] < tcfg.steps:
        step = int(meta["step"])
        for group in opt.param_groups:
            group["lr"] = tcfg.lr * _lr_factor(step, tcfg.steps, tcfg.warmup)
        d = None
        if tcfg.dim_curriculum and step < tcfg.dim_curriculum:
            cap = 1 + (cfg.max_dim - 1) * step // tcfg.dim_curriculum
            d = int(torch.randint(1, cap + 1, (1,), generator=gen))
        batch = prior_batch(cfg, tcfg.batch_size, gen, d=d)
        x_c, y_c, x_q, y_q = (t.to(device) for t in batch)
        logits = model(x_c, y_c, x_q)
        loss = model.bar.nll(logits, y_q.clamp(-TARGET_CLIP, TARGET_CLIP)).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        meta["step"] = step + 1
        meta["datasets_seen"] = int(meta["datasets_seen"]) + tcfg.batch_size
        value = float(loss.detach())
        window.append(value)
        if callback is not None:
            callback(step + 1, value)
        if len(window) == 50 or meta["step"] == tcfg.steps:
            meta["losses"].append([meta["step"], round(sum(window) / len(window), 4)])
            window = []
        out_of_time = time_limit is not None and time.perf_counter() - start > time_limit
        if meta["step"] - last_save >= tcfg.checkpoint_every or out_of_time:
            checkpoint()
            last_save = int(meta["step"])
        if out_of_time:
            break
    checkpoint()
    model.eval()
    return model, json.loads((out / CONFIG).read_text())
