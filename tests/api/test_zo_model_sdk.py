"""The `asktell_client.zo` evaluator loop against the real app: resume, join late, rebuild."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch", reason="asktell_client.zo needs torch")

from asktell_client import Client  # noqa: E402
from asktell_client.zo import LogReplayer, create_study, evaluate, fetch_log, rebuild  # noqa: E402

TARGET = torch.linspace(-1, 1, 30)


def initial() -> torch.nn.Module:
    module = torch.nn.Module()
    module.register_parameter("w", torch.nn.Parameter(torch.zeros(30)))
    return module


def loss(module: torch.nn.Module, seed: int) -> float:
    return float(((module.w.detach() - TARGET) ** 2).sum())


@pytest.fixture
def client(http):
    with Client(base_url=str(http.base_url), http_client=http, max_retries=0) as c:
        yield c


def test_evaluators_resume_join_late_and_rebuild(client):
    study = create_study(client, "sdk", optimizer="adam", lr=0.05, scale=1e-2, directions=2)
    a_model = initial()
    a = evaluate(study, a_model, loss, max_pairs=6, evaluator="a")
    b_model = initial()
    b = evaluate(study, b_model, loss, until_step=12, evaluator="b", exact=True)
    a = evaluate(study, a_model, loss, until_step=12, evaluator="a", replayer=a)
    assert a.applied == b.applied == 12
    log = fetch_log(study)
    assert log.steps >= 12 and log.optimizer.name == "adam"
    fresh = initial()
    replayer = LogReplayer(fresh)
    replayer.apply_log(log, until=12)
    assert torch.equal(b_model.w, fresh.w)
    assert torch.allclose(a_model.w, fresh.w, atol=1e-6)
    assert loss(fresh, 0) < loss(initial(), 0)
    everything = rebuild(initial(), study)
    assert everything.applied == log.steps
