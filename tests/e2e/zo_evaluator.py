"""An evaluator process of a `zo-model` study: a small regression MLP trained by loss values.

    python tests/e2e/zo_evaluator.py --url URL --study ID --name a --until-step 30 --out a.pt

Every evaluator builds the same initial weights (seed 0), evaluates pairs until
the study reaches `--until-step`, and saves its live weights (perturbed in
place and back along the way) and the weights rebuilt from the initial ones
plus the log.
"""

from __future__ import annotations

import argparse
import time

import torch

from asktell_client import Client
from asktell_client.zo import LogReplayer, evaluate, trained_parameters

FEATURES, HIDDEN, SAMPLES = 8, 16, 256


def initial_model() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Linear(FEATURES, HIDDEN), torch.nn.Tanh(), torch.nn.Linear(HIDDEN, 1)
    )


def data() -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(1)
    X = torch.randn(SAMPLES, FEATURES, generator=generator)
    y = torch.sin(X[:, :1]) + 0.5 * X[:, 1:2] ** 2
    return X, y


def flat(module: torch.nn.Module) -> torch.Tensor:
    return torch.cat([p.detach().flatten() for p in trained_parameters(module)])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--study", type=int, required=True)
    parser.add_argument("--name", required=True)
    parser.add_argument("--until-step", type=int, required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--pause", type=float, default=0.0, help="seconds per loss evaluation")
    parser.add_argument("--exact", action="store_true", help="restore weights from a copy")
    args = parser.parse_args()
    torch.set_num_threads(1)
    X, y = data()

    def loss(module: torch.nn.Module, seed: int) -> float:
        time.sleep(args.pause)
        return float(torch.nn.functional.mse_loss(module(X), y))

    model = initial_model()
    with Client(base_url=args.url, max_retries=5, timeout=30.0) as client:
        study = client.studies.get(args.study)
        live = evaluate(
            study, model, loss, until_step=args.until_step, evaluator=args.name, exact=args.exact
        )
        rebuilt = initial_model()
        replayer = LogReplayer(rebuilt)
        replayer.sync(study, until=args.until_step)
    torch.save({"live": flat(model), "rebuilt": flat(rebuilt), "applied": live.applied}, args.out)
    print(f"{args.name}: done at step {live.applied}", flush=True)


if __name__ == "__main__":
    main()
