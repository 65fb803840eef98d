"""The PFN: a transformer that maps (context, query inputs) to bar-distribution logits.

Context tokens embed `(x, y)`, query tokens embed `x` plus a learned marker.
Every token attends to the context only (the PFN attention mask: context to
context, queries to context), so context states do not depend on the queries;
`encode_context` caches each layer's keys and values once and `predict` runs
any number of query points against them in time linear in their count.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from torch import Tensor, nn

from asktell.surrogates.pfn.bar import BarDistribution

__all__ = [
    "PFN",
    "PFNConfig",
    "load_pfn",
    "save_pfn",
    "standardize",
]

SD_FLOOR = 1e-3
WEIGHTS = "model.safetensors"
CONFIG = "config.json"


@dataclass
class PFNConfig:
    """Architecture and prior shape of a PFN (stored as JSON next to the weights)."""

    max_dim: int = 10
    max_ctx: int = 100
    seq_len: int = 128
    emsize: int = 192
    nhead: int = 4
    nlayers: int = 6
    nhid: int = 384
    num_buckets: int = 1000
    border_clip: float = 10.0

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PFNConfig:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


def standardize(y_ctx: Tensor) -> tuple[Tensor, Tensor]:
    """Context mean and std (`b x 1` each) of `y_ctx` (`b x n`); std floored, 1 when n == 1."""
    mu = y_ctx.mean(-1, keepdim=True)
    if y_ctx.shape[-1] < 2:
        return mu, torch.ones_like(mu)
    return mu, y_ctx.std(-1, keepdim=True).clamp_min(SD_FLOOR)


class _Layer(nn.Module):
    """Pre-norm transformer layer whose keys and values come from the context only."""

    def __init__(self, emsize: int, nhead: int, nhid: int):
        super().__init__()
        self.nhead = nhead
        self.norm1 = nn.LayerNorm(emsize)
        self.qkv = nn.Linear(emsize, 3 * emsize)
        self.proj = nn.Linear(emsize, emsize)
        self.norm2 = nn.LayerNorm(emsize)
        self.ff = nn.Sequential(nn.Linear(emsize, nhid), nn.GELU(), nn.Linear(nhid, emsize))

    def _heads(self, t: Tensor) -> Tensor:
        b, n, e = t.shape
        return t.view(b, n, self.nhead, e // self.nhead).transpose(1, 2)

    def _attend(self, h: Tensor, q: Tensor, kv: tuple[Tensor, Tensor]) -> Tensor:
        out = F.scaled_dot_product_attention(self._heads(q), *kv)
        out = out.transpose(1, 2).reshape(h.shape)
        h = h + self.proj(out)
        return h + self.ff(self.norm2(h))

    def context(self, h: Tensor) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        """Context states `b x n x E` → next states and this layer's keys/values."""
        q, k, v = self.qkv(self.norm1(h)).chunk(3, dim=-1)
        kv = (self._heads(k), self._heads(v))
        return self._attend(h, q, kv), kv

    def query(self, h: Tensor, kv: tuple[Tensor, Tensor]) -> Tensor:
        """Query states `b x m x E` attending to the cached context keys/values."""
        e = h.shape[-1]
        q = F.linear(self.norm1(h), self.qkv.weight[:e], self.qkv.bias[:e])
        return self._attend(h, q, kv)


class PFN(nn.Module):
    """Prior-data fitted network with a bar-distribution head."""

    def __init__(self, config: PFNConfig, borders: Tensor | None = None):
        super().__init__()
        self.config = config
        c = config
        self.x_enc = nn.Linear(c.max_dim, c.emsize)
        self.y_enc = nn.Linear(1, c.emsize)
        self.query_token = nn.Parameter(torch.zeros(c.emsize))
        self.layers = nn.ModuleList(_Layer(c.emsize, c.nhead, c.nhid) for _ in range(c.nlayers))
        self.norm = nn.LayerNorm(c.emsize)
        self.decoder = nn.Sequential(
            nn.Linear(c.emsize, c.nhid), nn.GELU(), nn.Linear(c.nhid, c.num_buckets)
        )
        if borders is None:
            borders = torch.linspace(-c.border_clip, c.border_clip, c.num_buckets + 1)
        self.bar = BarDistribution(borders)

    def _x(self, x: Tensor) -> Tensor:
        d = x.shape[-1]
        if d > self.config.max_dim:
            raise ValueError(f"{d} input dimensions, the model takes at most {self.config.max_dim}")
        if d < self.config.max_dim:
            x = F.pad(x, (0, self.config.max_dim - d))
        return self.x_enc(x - 0.5)

    def encode_context(self, x: Tensor, y: Tensor) -> list[tuple[Tensor, Tensor]]:
        """Per-layer keys/values for context `x` (`b x n x d`) and standardized `y` (`b x n`)."""
        h = self._x(x) + self.y_enc(y.unsqueeze(-1))
        cache = []
        for layer in self.layers:
            h, kv = layer.context(h)
            cache.append(kv)
        return cache

    def predict(self, cache: list[tuple[Tensor, Tensor]], x: Tensor) -> Tensor:
        """Bucket logits `b x m x K` at query inputs `x` (`b x m x d`)."""
        h = self._x(x) + self.query_token
        for layer, kv in zip(self.layers, cache, strict=True):
            h = layer.query(h, kv)
        return self.decoder(self.norm(h))

    def forward(self, x_ctx: Tensor, y_ctx: Tensor, x_query: Tensor) -> Tensor:
        """Logits `b x m x K` for standardized context targets (see `standardize`)."""
        return self.predict(self.encode_context(x_ctx, y_ctx), x_query)

    def num_params(self) -> int:
        return sum(p.numel() for p in self.parameters())


def save_pfn(model: PFN, directory: Path | str, meta: dict[str, Any] | None = None) -> None:
    """Write `model.safetensors` (weights and borders) and `config.json` to `directory`."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    tmp = directory / (WEIGHTS + ".tmp")
    save_file(tensors, str(tmp))
    tmp.replace(directory / WEIGHTS)
    doc = {"config": asdict(model.config), **(meta or {})}
    tmp = directory / (CONFIG + ".tmp")
    tmp.write_text(json.dumps(doc, indent=2) + "\n")
    tmp.replace(directory / CONFIG)


def load_pfn(directory: Path | str, device: str | torch.device = "cpu") -> tuple[PFN, dict]:
    """Load a PFN saved by `save_pfn` (safetensors only, never pickles).

    Returns:
        The model in eval mode on `device` and the JSON document (config and training meta).
    """
    directory = Path(directory)
    doc = json.loads((directory / CONFIG).read_text())
    state = load_file(str(directory / WEIGHTS), device=str(device))
    model = PFN(PFNConfig.from_dict(doc["config"]), borders=state["bar.borders"])
    model.load_state_dict(state)
    return model.to(device).eval(), doc
