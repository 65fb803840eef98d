"""Ask latency an evaluator sees with a model-based strategy, with and without prefetch.

    python bench/prefetch_latency.py                       # gp, 4 evaluators, 1 s evaluations
    python bench/prefetch_latency.py --evaluators 2 --trials 40 --strategy gp
    python bench/prefetch_latency.py --strategy auto --options '{"select_surrogate": true}'

Runs a real `asktell serve` (SQLite, embedded worker) per setting. Each evaluator
loops ask(1) → sleep(eval_seconds) → tell; the study starts from a few told Sobol
points so every ask after them needs the model.
"""

from __future__ import annotations

import argparse
import json
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

SPACE = [{"name": f"x{i}", "type": "float", "low": 0.0, "high": 1.0} for i in range(4)]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def objective(p: dict) -> float:
    return sum((v - 0.3) ** 2 for v in p.values())


def run(
    strategy: dict,
    prefetch: int,
    evaluators: int,
    trials: int,
    eval_seconds: float,
    warmup: int,
) -> dict:
    tmp = Path(tempfile.mkdtemp(prefix="asktell-prefetch-"))
    port = free_port()
    exe = Path(sys.executable).with_name("asktell")
    proc = subprocess.Popen(
        [
            str(exe),
            "serve",
            "--port",
            str(port),
            "--database-url",
            f"sqlite:///{tmp}/a.db",
            "--log-level",
            "warning",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):
            try:
                if httpx.get(base + "/readyz").status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        http = httpx.Client(base_url=base, timeout=120)
        sid = http.post(
            "/v1/studies",
            json={
                "name": "prefetch",
                "space": SPACE,
                "strategy": {"name": "sobol"},
                "settings": {"prefetch": prefetch, "ask_timeout": 120, "budget": trials + warmup},
            },
        ).json()["id"]
        for t in http.post(f"/v1/studies/{sid}/trials:ask", json={"count": warmup}).json()[
            "trials"
        ]:
            http.post(
                f"/v1/trials/{t['id']}:tell", json={"values": {"value": objective(t["params"])}}
            )
        http.patch(f"/v1/studies/{sid}", json={"strategy": strategy})
        latencies: list[float] = []
        lock = threading.Lock()

        def evaluator(i: int) -> None:
            client = httpx.Client(base_url=base, timeout=120)
            while True:
                t0 = time.perf_counter()
                r = client.post(f"/v1/studies/{sid}/trials:ask", json={"evaluator": f"e{i}"})
                if r.status_code == 409:
                    return
                r.raise_for_status()
                with lock:
                    latencies.append(time.perf_counter() - t0)
                trial = r.json()["trials"][0]
                time.sleep(eval_seconds)
                client.post(
                    f"/v1/trials/{trial['id']}:tell",
                    json={"values": {"value": objective(trial["params"])}},
                )

        threads = [threading.Thread(target=evaluator, args=(i,)) for i in range(evaluators)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        items = http.get(f"/v1/studies/{sid}/trials", params={"limit": 10_000}).json()["items"]
        made_by = {}
        for t in items[warmup:]:
            made_by[t["strategy"]] = made_by.get(t["strategy"], 0) + 1
    finally:
        proc.terminate()
        proc.wait(10)
        shutil.rmtree(tmp, ignore_errors=True)
    q = statistics.quantiles(latencies, n=100)
    return {
        "p50_ms": q[49] * 1e3,
        "p90_ms": q[89] * 1e3,
        "max_ms": max(latencies) * 1e3,
        "asks": len(latencies),
        "strategies": made_by,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--strategy", default="gp")
    parser.add_argument("--options", default="{}", help="the strategy's options, as JSON")
    parser.add_argument("--evaluators", type=int, default=4)
    parser.add_argument("--trials", type=int, default=40)
    parser.add_argument("--eval-seconds", type=float, default=1.0)
    parser.add_argument("--warmup", type=int, default=8)
    parser.add_argument("--prefetch", type=int, nargs="+", default=[0, 2])
    args = parser.parse_args()
    print("| strategy | prefetch | evaluators | asks | ask p50 ms | p90 ms | max ms | made by |")
    print("|---|---|---|---|---|---|---|---|")
    strategy = {"name": args.strategy, "options": json.loads(args.options)}
    label = args.strategy + (f" {args.options}" if strategy["options"] else "")
    for k in args.prefetch:
        r = run(strategy, k, args.evaluators, args.trials, args.eval_seconds, args.warmup)
        print(
            f"| {label} | {k} | {args.evaluators} | {r['asks']} | {r['p50_ms']:.0f} | "
            f"{r['p90_ms']:.0f} | {r['max_ms']:.0f} | {r['strategies']} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
