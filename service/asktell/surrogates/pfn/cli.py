"""`asktell pfn train`: train a PFN on the HEBO+ prior and write a safetensors checkpoint."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

__all__ = ["pfn_app"]

pfn_app = typer.Typer(help="Prior-data fitted network surrogates.", no_args_is_help=True)


@pfn_app.callback()
def _main() -> None:
    """Prior-data fitted network surrogates."""


@pfn_app.command("train")
def train_command(
    out: Annotated[Path, typer.Option(help="Checkpoint directory to write (and resume from).")],
    prior: Annotated[str, typer.Option(help="Prior to sample datasets from.")] = "hebo",
    steps: Annotated[int, typer.Option(help="Total optimizer steps.")] = 1000,
    batch_size: Annotated[int, typer.Option(help="Datasets per step.")] = 32,
    lr: Annotated[float, typer.Option(help="Peak learning rate (warmup then cosine).")] = 1e-3,
    emsize: Annotated[int, typer.Option(help="Embedding width.")] = 128,
    nlayers: Annotated[int, typer.Option(help="Transformer layers.")] = 6,
    nhead: Annotated[int, typer.Option(help="Attention heads.")] = 4,
    nhid: Annotated[int, typer.Option(help="Feed-forward width.")] = 256,
    num_buckets: Annotated[int, typer.Option(help="Bar-distribution buckets.")] = 1000,
    max_dim: Annotated[int, typer.Option(help="Largest input dimension.")] = 10,
    max_ctx: Annotated[int, typer.Option(help="Largest context size.")] = 100,
    seq_len: Annotated[int, typer.Option(help="Points per dataset (context + queries).")] = 128,
    device: Annotated[str, typer.Option(help="torch device, e.g. cpu or cuda.")] = "cpu",
    resume: Annotated[bool, typer.Option(help="Continue from the checkpoint in --out.")] = False,
    time_limit: Annotated[
        float | None, typer.Option(help="Stop and checkpoint after this many seconds.")
    ] = None,
    threads: Annotated[int, typer.Option(help="CPU threads (0: torch's default).")] = 0,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    checkpoint_every: Annotated[int, typer.Option(help="Steps between checkpoints.")] = 100,
    init_from: Annotated[
        Path | None,
        typer.Option(help="Warm restart: start from this checkpoint's weights, fresh schedule."),
    ] = None,
    dim_curriculum: Annotated[
        int, typer.Option(help="Steps over which the largest input dimension ramps up (0: off).")
    ] = 0,
    border_batches: Annotated[
        int, typer.Option(help="Prior batches (of 64) sampled for the bucket borders.")
    ] = 100,
) -> None:
    """Train a PFN on prior datasets, with a progress bar showing the loss."""
    import torch
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    from asktell.surrogates.pfn.model import PFNConfig
    from asktell.surrogates.pfn.train import TrainConfig, train

    if prior != "hebo":
        raise typer.BadParameter(f"unknown prior {prior!r}; known: hebo", param_hint="--prior")
    if threads:
        torch.set_num_threads(threads)
    cfg = PFNConfig(
        max_dim=max_dim,
        max_ctx=max_ctx,
        seq_len=max(seq_len, max_ctx + 1),
        emsize=emsize,
        nhead=nhead,
        nlayers=nlayers,
        nhid=nhid,
        num_buckets=num_buckets,
    )
    tcfg = TrainConfig(
        steps=steps,
        batch_size=batch_size,
        lr=lr,
        seed=seed,
        checkpoint_every=checkpoint_every,
        border_batches=border_batches,
        dim_curriculum=dim_curriculum,
    )
    columns = (
        TextColumn("[bold]pfn train"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("loss {task.fields[loss]:.4f}"),
        TimeRemainingColumn(),
    )
    with Progress(*columns) as progress:
        task = progress.add_task("train", total=steps, loss=float("nan"))

        def report(step: int, loss: float) -> None:
            progress.update(task, completed=step, loss=loss)

        _, meta = train(
            cfg,
            tcfg,
            out,
            device=device,
            resume=resume,
            time_limit=time_limit,
            callback=report,
            init_from=init_from,
        )
    typer.echo(
        f"step {meta['step']}, {meta['datasets_seen']} datasets, "
        f"{meta['wall_seconds']} s, last loss {meta['losses'][-1][1] if meta['losses'] else 'n/a'}"
        f" → {out}"
    )


if __name__ == "__main__":
    pfn_app()
