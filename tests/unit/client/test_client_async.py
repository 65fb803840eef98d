"""The async client: the same behaviour through `AsyncClient`."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Coroutine
from typing import Any

import httpx
import pytest

import asktell_client as at

FAST_BEATS = {"heartbeat_timeout": 0.15}
Make = Callable[[], at.AsyncClient]


def run(coro: Coroutine[Any, Any, Any]) -> Any:
    return asyncio.run(coro)


async def _wait_for(condition: Callable[[], bool], seconds: float = 5.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and not condition():
        await asyncio.sleep(0.01)
    return condition()


def _beats(server: Any, trial_id: int) -> int:
    return len(server.calls_to("POST", rf"/v1/trials/{trial_id}:heartbeat"))


def test_async_retries_keep_idempotency_key(
    make_async_client: Make, server: Any, sleeps: list[float]
) -> None:
    async def main() -> None:
        async with make_async_client() as client:
            study = await client.studies.create("s", server.SPACE)
            server.fault(
                "POST", r".*trials:ask", server.error(503, "busy", "x"), httpx.ConnectError("down")
            )
            server.fault("POST", r".*trials:ask", server.error(502, "lost", "x"), after=True)
            trials = await study.ask(2)
            assert len(trials) == 2

    run(main())
    asks = server.calls_to("POST", r".*trials:ask")
    assert len(asks) == 4 and len(sleeps) == 3
    assert len({c.headers["idempotency-key"] for c in asks}) == 1
    assert {c.body["request_id"] for c in asks} == {asks[0].headers["idempotency-key"]}
    assert len(server.trials) == 2


def test_async_error_mapping_and_x_should_retry(
    make_async_client: Make, server: Any, sleeps: list[float]
) -> None:
    async def main() -> None:
        async with make_async_client() as client:
            server.fault(
                "GET",
                "/v1/strategies",
                server.error(503, "draining", "go away", **{"x-should-retry": "false"}),
            )
            with pytest.raises(at.InternalServerError) as info:
                await client.strategies()
            assert info.value.code == "draining"
            with pytest.raises(at.UnprocessableEntityError) as bad:
                study = await client.studies.create("s", server.SPACE)
                await (await study.ask())[0]._tell({"state": "bogus"})
            assert bad.value.field == "state"

    run(main())
    assert sleeps == []


def test_async_operation_polling_and_bare_float(
    make_async_client: Make, server: Any, sleeps: list[float]
) -> None:
    async def main() -> None:
        async with make_async_client() as client:
            study = await client.studies.create("s", server.SPACE, objectives=["loss"])
            server.ask_mode = "operation"
            trial = (await study.ask())[0]
            told = await trial.tell(0.75)
            assert told.values == {"loss": 0.75}
            assert (await study.best()).id == trial.id
            names = [s.name async for s in client.studies.list()]
            assert names == ["s"]
            assert [t.id async for t in study.trials(state="completed")] == [trial.id]

    run(main())
    assert len(server.calls_to("GET", r"/v1/operations/\d+")) == server.polls_until_done
    assert len(sleeps) == server.polls_until_done


def test_async_heartbeat_task_until_told(make_async_client: Make, server: Any) -> None:
    async def main() -> None:
        async with make_async_client() as client:
            study = await client.studies.create("s", server.SPACE, settings=FAST_BEATS)
            trial = (await study.ask())[0]
            async with trial:
                assert await _wait_for(lambda: _beats(server, trial.id) >= 3)
                await trial.tell(0.5)
                after = _beats(server, trial.id)
                await asyncio.sleep(0.2)
                assert _beats(server, trial.id) == after
            other = (await study.ask())[0]
            with pytest.raises(RuntimeError):
                async with other:
                    raise RuntimeError("kaput")
            assert server.trials[other.id]["failure_reason"] == "RuntimeError: kaput"

    run(main())


def test_async_optimize_two_jobs(make_async_client: Make, server: Any) -> None:
    in_flight = 0
    peak = 0

    async def fn(params: dict[str, Any]) -> float:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await asyncio.sleep(0.01)
        in_flight -= 1
        if params["x"] > 0.5:
            raise ValueError("too big")
        return params["x"]

    async def main() -> list[at.Trial]:
        async with make_async_client() as client:
            study = await client.studies.create("s", server.SPACE)
            return await study.optimize(fn, n_trials=6, n_jobs=2, show_progress=False)

    told = run(main())
    assert len(told) == len(server.calls_to("POST", r".*:tell")) == len(server.trials) == 6
    assert peak == 2
    states = {t.id: t.state for t in told}
    for trial in server.trials.values():
        expected = "failed" if trial["params"]["x"] > 0.5 else "completed"
        assert trial["state"] == expected == states[trial["id"]].value


def test_async_optimize_runs_sync_fn_in_thread(make_async_client: Make, server: Any) -> None:
    threads: set[int] = set()

    def fn(params: dict[str, Any]) -> float:
        threads.add(threading.get_ident())
        return 1.0

    async def main() -> list[at.Trial]:
        async with make_async_client() as client:
            study = await client.studies.create("s", server.SPACE)
            return await study.optimize(fn, n_trials=2, show_progress=False)

    assert len(run(main())) == 2
    assert threading.get_ident() not in threads
