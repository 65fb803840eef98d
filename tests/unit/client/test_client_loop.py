"""Heartbeats, `with trial:` and optimize()."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

import asktell_client as at
from asktell_client import loop
from asktell_client._payloads import heartbeat_interval

FAST_BEATS = {"heartbeat_timeout": 0.15}  # one heartbeat every 0.05 s


def _wait_for(condition: Callable[[], bool], seconds: float = 5.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return condition()


def _beats(server: Any, trial_id: int) -> int:
    return len(server.calls_to("POST", rf"/v1/trials/{trial_id}:heartbeat"))


def test_heartbeat_interval_from_settings() -> None:
    assert heartbeat_interval(at.StudySettings(heartbeat_timeout=300)) == 30.0
    assert heartbeat_interval(at.StudySettings(heartbeat_timeout=30)) == 10.0


def test_with_trial_sends_heartbeats_until_told(client: at.Client, server: Any) -> None:
    study = client.studies.create("s", server.SPACE, settings=FAST_BEATS)
    trial = study.ask()[0]
    assert trial.heartbeat_interval == pytest.approx(0.05)
    with trial:
        assert _wait_for(lambda: _beats(server, trial.id) >= 3)
        trial.tell(0.5)
        after_tell = _beats(server, trial.id)
        time.sleep(0.2)
        assert _beats(server, trial.id) == after_tell
    assert not any(t.name.startswith("asktell-heartbeat") for t in threading.enumerate())


def test_heartbeats_survive_errors_and_stop_on_terminal_state(
    client: at.Client, server: Any, sleeps: list[float]
) -> None:
    study = client.studies.create("s", server.SPACE, settings=FAST_BEATS)
    trial = study.ask()[0]
    server.fault("POST", r"/v1/trials/\d+:heartbeat", server.error(503, "busy", "x"))
    with trial:
        assert _wait_for(lambda: _beats(server, trial.id) >= 3)
        assert sleeps == []  # background heartbeats are not retried
        server.trials[trial.id]["state"] = "completed"  # told by someone else
        beat = trial._heartbeat
        assert beat is not None and _wait_for(lambda: not beat._thread.is_alive())


def test_with_trial_fails_it_when_block_raises(client: at.Client, server: Any) -> None:
    study = client.studies.create("s", server.SPACE)
    trial = study.ask()[0]
    with pytest.raises(RuntimeError, match="boom"), trial:
        raise RuntimeError("boom")
    assert server.trials[trial.id]["state"] == "failed"
    assert server.trials[trial.id]["failure_reason"] == "RuntimeError: boom"


def test_with_trial_keeps_an_earlier_tell(client: at.Client, server: Any) -> None:
    study = client.studies.create("s", server.SPACE)
    trial = study.ask()[0]
    with pytest.raises(KeyError), trial:
        trial.tell(1.0)
        raise KeyError("late")
    assert server.trials[trial.id]["state"] == "completed"
    assert len(server.calls_to("POST", r"/v1/trials/\d+:tell")) == 1


def test_optimize_two_jobs_tells_exactly_n_trials(client: at.Client, server: Any) -> None:
    study = client.studies.create("s", server.SPACE)
    both_running = threading.Barrier(2, timeout=10)
    calls = []
    lock = threading.Lock()

    def fn(params: dict[str, Any]) -> float:
        with lock:
            calls.append(params["x"])
            first_two = len(calls) <= 2
        if first_two:
            both_running.wait()  # proves two evaluations run at once
        if params["x"] > 0.5:
            raise ValueError(f"x={params['x']} too large")
        return params["x"] ** 2

    told = study.optimize(fn, n_trials=7, n_jobs=2, evaluator="ev", show_progress=False)
    tells = server.calls_to("POST", r"/v1/trials/\d+:tell")
    assert len(told) == len(tells) == len(server.trials) == len(calls) == 7
    failed = [t for t in server.trials.values() if t["state"] == "failed"]
    completed = [t for t in server.trials.values() if t["state"] == "completed"]
    assert len(failed) == sum(x > 0.5 for x in calls) > 0
    assert len(completed) == sum(x <= 0.5 for x in calls) > 0
    assert all(t["failure_reason"].startswith("ValueError: x=") for t in failed)
    assert all(t["values"] == {"value": t["params"]["x"] ** 2} for t in completed)
    evaluators = {c.body["evaluator"] for c in server.calls_to("POST", r".*trials:ask")}
    assert evaluators == {"ev/0", "ev/1"}


def test_optimize_sends_heartbeats_while_fn_runs(client: at.Client, server: Any) -> None:
    study = client.studies.create("s", server.SPACE, settings=FAST_BEATS)
    seen: list[int] = []

    def fn(params: dict[str, Any]) -> float:
        trial_id = max(server.trials)
        _wait_for(lambda: _beats(server, trial_id) >= 2)
        seen.append(_beats(server, trial_id))
        return 1.0

    study.optimize(fn, n_trials=1, show_progress=False)
    assert seen and seen[0] >= 2


def test_optimize_fails_non_finite_results(client: at.Client, server: Any) -> None:
    study = client.studies.create("s", server.SPACE)
    told = study.optimize(lambda p: float("nan"), n_trials=2, show_progress=False)
    assert [t.state for t in told] == [at.TrialState.failed] * 2
    assert "not a finite number" in (told[0].failure_reason or "")


def test_optimize_stops_when_budget_is_used_up(client: at.Client, server: Any) -> None:
    study = client.studies.create("s", server.SPACE)
    study.optimize(lambda p: 1.0, n_trials=2, show_progress=False)
    server.fault("POST", r".*trials:ask", server.error(409, "budget_exhausted", "used up"))
    assert study.optimize(lambda p: 1.0, n_trials=3, show_progress=False) == []
    assert len(server.trials) == 2


@pytest.mark.parametrize("n_jobs", [1, 2])
def test_optimize_raises_api_errors(client: at.Client, server: Any, n_jobs: int) -> None:
    study = client.studies.create("s", server.SPACE)
    server.fault("POST", r".*trials:ask", server.error(403, "forbidden", "not your study"))
    with pytest.raises(at.PermissionDeniedError):
        study.optimize(lambda p: 1.0, n_trials=4, n_jobs=n_jobs, show_progress=False)
    assert len(server.trials) < 4


def test_optimize_progress_rich_and_plain(
    client: at.Client, server: Any, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    study = client.studies.create("s", server.SPACE)
    assert len(study.optimize(lambda p: p["x"], n_trials=2)) == 2

    def no_rich(*args: Any) -> Any:
        raise ImportError("rich")

    monkeypatch.setattr(loop, "_RichProgress", no_rich)
    study.optimize(lambda p: p["x"], n_trials=2)
    assert "asktell: 2/2 trials best value=" in capsys.readouterr().err


def test_optimize_argument_checks(client: at.Client, server: Any) -> None:
    study = client.studies.create("s", server.SPACE)
    with pytest.raises(ValueError, match="n_jobs"):
        study.optimize(lambda p: 1.0, n_trials=1, n_jobs=0)
    assert study.optimize(lambda p: 1.0, n_trials=0, show_progress=False) == []
