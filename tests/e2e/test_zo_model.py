"""A `zo-model` study against a real server: two evaluator processes share steps, a third
joins late by replaying the log, and all end with the same weights (bit for bit when rebuilt
from the log or restored exactly, within rounding drift when perturbed in place and back)."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest
import torch

from asktell_client import Client
from asktell_client.zo import LogReplayer, create_study, fetch_log

from .procs import Cluster

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]

EVALUATOR = Path(__file__).with_name("zo_evaluator.py")
UNTIL_STEP = 60
PAUSE = 0.1  # seconds per loss evaluation, so the late evaluator finds steps left
LATE_AFTER_STEP = 5


def spawn_evaluator(cluster: Cluster, url: str, study: int, name: str, out: Path, exact: bool):
    args = [sys.executable, str(EVALUATOR), "--url", url, "--study", str(study)]
    args += ["--name", name, "--until-step", str(UNTIL_STEP), "--out", str(out)]
    args += ["--pause", str(PAUSE), *(["--exact"] if exact else [])]
    return cluster.spawn(f"evaluator-{name}", args)


def wait_for(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


@pytest.mark.parametrize(
    "database_url",
    ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)],
    indirect=True,
)
def test_evaluators_share_steps_and_a_late_one_replays_the_log(cluster, database_url, tmp_path):
    sys.path.insert(0, str(EVALUATOR.parent))
    from zo_evaluator import flat, initial_model

    server = cluster.server(database_url, worker=False)
    client = Client(base_url=server.base_url, max_retries=5, timeout=30.0)
    study = create_study(
        client, "e2e-zo", optimizer="adam", lr=0.02, scale=1e-3, directions=2, seed=3
    )
    outs = {name: tmp_path / f"{name}.pt" for name in ("a", "b", "late")}
    procs = [
        spawn_evaluator(cluster, server.base_url, study.id, n, outs[n], exact=False)
        for n in ("a", "b")
    ]
    wait_for(lambda: fetch_log(study).steps >= LATE_AFTER_STEP, 60, "the first steps")
    late = spawn_evaluator(cluster, server.base_url, study.id, "late", outs["late"], exact=True)
    procs.append(late)
    for proc in procs:
        wait_for(lambda p=proc: not p.alive, 90, proc.name)
        assert proc.popen.returncode == 0, proc.log_text()

    log = fetch_log(study, limit=UNTIL_STEP)
    assert log.steps >= UNTIL_STEP
    trials = {t.params["zo_seed"]: t for t in study.trials(state="completed")}
    by_step = [{trials[s].evaluator for s in e.seeds} for e in log.entries]
    assert any(evaluators == {"a", "b"} for evaluators in by_step), by_step
    assert any("late" in evaluators for evaluators in by_step[LATE_AFTER_STEP:]), by_step
    assert not any("late" in evaluators for evaluators in by_step[:LATE_AFTER_STEP]), by_step
    assert all(len(e.seeds) >= 2 for e in log.entries)

    expected = initial_model()
    LogReplayer(expected, log.optimizer).apply_log(log)
    reference = flat(expected)
    for name, path in outs.items():
        saved = torch.load(path)
        assert saved["applied"] == UNTIL_STEP, name
        assert torch.equal(saved["rebuilt"], reference), name
        assert torch.allclose(saved["live"], reference, rtol=0, atol=1e-5), name
    # The late evaluator replayed the log and restored exactly after each pair.
    assert torch.equal(torch.load(outs["late"])["live"], reference)
    assert log.entries[-1].loss < log.entries[0].loss
    client.close()
