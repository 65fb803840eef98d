"""Ask+tell round trips over HTTP with one 10,000-long array parameter.

    python bench/array_roundtrip.py                        # SQLite and PostgreSQL, 8 s a row
    python bench/array_roundtrip.py --seconds 5 --engines sqlite --length 100000

One `asktell serve --no-worker` per engine (fresh database), a study with a single
array parameter and the random strategy (answered inline). Each client thread loops
ask(1) → array as numpy → tell over a keep-alive connection; a round trip is the
ask plus the tell. Rows:
  list     raw httpx, `array_format=list` (the default JSON list of numbers)
  b64      raw httpx, `array_format=b64` (base64 float32 block)
  sdk      the asktell client (numpy installed, so it asks for blocks): ask, trial.array, tell
  scalar   raw httpx on a study with one float parameter instead: the floor for comparison
"""

from __future__ import annotations

import argparse
import base64
import statistics
import threading
import time
import uuid

import httpx
import numpy as np
from throughput import Databases, start_server

from asktell_client import Client

MODES = ("list", "b64", "sdk", "scalar")


def as_numpy(value) -> np.ndarray:
    if isinstance(value, float):
        return np.array([value], dtype=np.float32)
    if isinstance(value, dict):
        return np.frombuffer(base64.b64decode(value["b64"]), dtype="<f4")
    return np.asarray(value, dtype=np.float32)


def objective(w: np.ndarray) -> float:
    return float(np.mean((w - 0.3) ** 2))


def create_study(base: str, length: int | None) -> int:
    """A random-strategy study with array `w` of `length`, or a float `w` for None."""
    space = [{"name": "w", "type": "array", "length": length, "low": -1.0, "high": 1.0}]
    if length is None:
        space = [{"name": "w", "type": "float", "low": -1.0, "high": 1.0}]
    body = {"name": f"arr-{uuid.uuid4().hex[:6]}", "space": space}
    body["strategy"] = {"name": "random"}
    r = httpx.post(base + "/v1/studies", json=body)
    r.raise_for_status()
    return r.json()["id"]


def raw_loop(base: str, sid: int, fmt: str, stop: float, out: list[float], sizes: list[int]):
    with httpx.Client(base_url=base, timeout=30) as http:
        while time.perf_counter() < stop:
            t0 = time.perf_counter()
            r = http.post(f"/v1/studies/{sid}/trials:ask?array_format={fmt}", json={"count": 1})
            r.raise_for_status()
            trial = r.json()["trials"][0]
            value = objective(as_numpy(trial["params"]["w"]))
            told = http.post(
                f"/v1/trials/{trial['id']}:tell?array_format={fmt}",
                json={"values": {"value": value}},
            )
            told.raise_for_status()
            out.append(time.perf_counter() - t0)
            sizes.append(len(r.content))


def sdk_loop(base: str, sid: int, stop: float, out: list[float], sizes: list[int]):
    with Client(base_url=base, max_retries=0) as client:
        study = client.studies.get(sid)
        while time.perf_counter() < stop:
            t0 = time.perf_counter()
            (trial,) = study.ask()
            trial.tell(objective(trial.array("w")))
            out.append(time.perf_counter() - t0)


def measure(base: str, length: int, mode: str, clients: int, seconds: float) -> dict:
    sid = create_study(base, None if mode == "scalar" else length)
    warm: list[float] = []
    run_loop(base, sid, mode, 1, 1.0, warm, [])
    latencies: list[float] = []
    sizes: list[int] = []
    started = time.perf_counter()
    run_loop(base, sid, mode, clients, seconds, latencies, sizes)
    elapsed = time.perf_counter() - started
    latencies.sort()
    return {
        "mode": mode,
        "clients": clients,
        "round_trips": len(latencies),
        "per_second": len(latencies) / elapsed,
        "p50_ms": 1000 * statistics.median(latencies),
        "p99_ms": 1000 * latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))],
        "ask_kib": statistics.median(sizes) / 1024 if sizes else None,
    }


def run_loop(
    base: str, sid: int, mode: str, clients: int, seconds: float, out: list, sizes: list
) -> None:
    stop = time.perf_counter() + seconds
    fmt = "list" if mode == "scalar" else mode
    if mode == "sdk":
        threads = [
            threading.Thread(target=sdk_loop, args=(base, sid, stop, out, sizes))
            for _ in range(clients)
        ]
    else:
        threads = [
            threading.Thread(target=raw_loop, args=(base, sid, fmt, stop, out, sizes))
            for _ in range(clients)
        ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--engines", nargs="+", default=["sqlite", "postgres"])
    parser.add_argument("--modes", nargs="+", default=list(MODES), choices=MODES)
    parser.add_argument("--clients", nargs="+", type=int, default=[1, 4])
    parser.add_argument("--length", type=int, default=10_000)
    parser.add_argument("--seconds", type=float, default=8.0)
    args = parser.parse_args()

    dbs = Databases()
    rows = []
    try:
        for engine in args.engines:
            proc, base = start_server(dbs.new(engine))
            try:
                for clients in args.clients:
                    for mode in args.modes:
                        row = measure(base, args.length, mode, clients, args.seconds)
                        rows.append({"engine": engine, **row})
                        print(rows[-1], flush=True)
            finally:
                proc.terminate()
                proc.wait(timeout=30)
    finally:
        dbs.close()

    print(f"\narray length {args.length}, {args.seconds:g} s a row\n")
    print("| engine | format | clients | round trips/s | p50 ms | p99 ms | ask response KiB |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        size = f"{r['ask_kib']:.0f}" if r["ask_kib"] is not None else "-"
        print(
            f"| {r['engine']} | {r['mode']} | {r['clients']} | {r['per_second']:.0f} "
            f"| {r['p50_ms']:.1f} | {r['p99_ms']:.1f} | {size} |"
        )


if __name__ == "__main__":
    main()
