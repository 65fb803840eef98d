"""Dashboard load on a big study: page load time and JSON payload sizes.

Creates a study with N completed/failed/running trials (bulk-inserted through
SQLAlchemy), starts `asktell serve` on it, then measures every dashboard JSON
endpoint and the trials CSV (cold and warm: time and bytes) and, when Chromium is available, how
long the study page takes until its plots and table are drawn. Then it adds a second
study with two objectives and as many trials and times its hypervolume history.

    python bench/dashboard_load.py --trials 100000
    python bench/dashboard_load.py --trials 100000 --database-url postgresql+psycopg://...
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SPACE = [
    {"name": "lr", "type": "float", "low": 1e-5, "high": 1e-1, "log": True},
    {"name": "layers", "type": "int", "low": 1, "high": 8},
    {"name": "dropout", "type": "float", "low": 0.0, "high": 0.5},
    {"name": "opt", "type": "categorical", "choices": ["adam", "sgd", "rmsprop"]},
    {"name": "width", "type": "int", "low": 16, "high": 1024, "log": True},
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_rows(study_id: int, n: int, seed: int = 0, two: bool = False) -> list[dict]:
    """N synthetic trials: mostly completed, some failed, a few running; `two` adds a
    second objective (`cost`, at odds with the loss)."""
    rng = random.Random(seed)
    start = datetime.now(UTC) - timedelta(seconds=n * 2)
    evaluators = [f"gpu-{i}" for i in range(8)]
    rows = []
    for i in range(n):
        lr = 10 ** rng.uniform(-5, -1)
        p = {
            "lr": lr,
            "layers": rng.randint(1, 8),
            "dropout": rng.uniform(0, 0.5),
            "opt": rng.choice(["adam", "sgd", "rmsprop"]),
            "width": int(2 ** rng.uniform(4, 10)),
        }
        loss = (math.log10(lr) + 3) ** 2 + 0.1 * p["layers"] + p["dropout"] + rng.gauss(0, 0.3)
        values = {"loss": loss}
        if two:
            values["cost"] = p["width"] * p["layers"] / 8192 - 0.1 * loss + rng.gauss(0, 0.05)
        state = "completed"
        if i % 50 == 7:
            state = "failed"
        elif i >= n - 8:
            state = "running"
        created = start + timedelta(seconds=2 * i)
        rows.append(
            {
                "study_id": study_id,
                "state": state,
                "params": p,
                "values": values if state == "completed" else None,
                "point_key": None,
                "failure_reason": "diverged" if state == "failed" else None,
                "evaluator": evaluators[i % len(evaluators)],
                "strategy": "sobol" if i < 20 else "gp",
                "reoffered": False,
                "created_at": created,
                "started_at": created,
                "heartbeat_at": created if state == "running" else None,
                "finished_at": None if state == "running" else created + timedelta(seconds=14),
            }
        )
    return rows


def seed_database(url: str, n: int, two: bool = False) -> int:
    """Create the study and bulk-insert its trials; return the study id."""
    from sqlalchemy import insert

    from asktell.db import repository as repo
    from asktell.db.migrate import upgrade
    from asktell.db.models import TrialRow
    from asktell.db.session import Database
    from asktell_client.types import StudyCreate

    upgrade(url)
    db = Database(url)
    objectives = [{"name": "loss"}, {"name": "cost"}] if two else [{"name": "loss"}]
    spec = StudyCreate(name=f"big-{n}{'-2obj' if two else ''}", space=SPACE, objectives=objectives)
    with db.write() as session:
        pid = repo.get_or_create_project(session)
        study_id = repo.create_study(session, project_id=pid, spec=spec).id
    rows = make_rows(study_id, n, two=two)
    started = time.perf_counter()
    for i in range(0, n, 10_000):
        with db.write() as session:
            session.execute(insert(TrialRow), rows[i : i + 10_000])
    print(f"inserted {n} trials in {time.perf_counter() - started:.1f}s")
    db.dispose()
    return study_id


def endpoints(sid: int) -> list[str]:
    d = f"/v1/dashboard/studies/{sid}"
    return [
        "/v1/dashboard/studies",
        d,
        f"{d}/history",
        f"{d}/edf",
        f"{d}/trials?limit=50",
        f"{d}/trials?limit=50&sort=value.loss&order=asc",
        f"{d}/trials?limit=50&offset=50000&sort=param.lr",
        f"{d}/sample",
        f"{d}/importance",
        f"{d}/contour?x=lr&y=dropout",
        f"{d}/rank",
        f"{d}/events?timeout=0",
        f"{d}/pareto",
        f"{d}/timeline",
        f"{d}/intermediates",
        f"{d}/queue",
        f"{d}/trials.csv",
        f"/v1/dashboard/compare?study_id={sid}",
        f"/v1/studies/{sid}/note",
        f"/v1/studies/{sid}/artifacts",
    ]


def measure_api(base: str, paths: list[str]) -> list[dict]:
    out = []
    with httpx.Client(base_url=base, timeout=60) as http:
        for path in paths:
            times = []
            for _ in range(2):
                t = time.perf_counter()
                r = http.get(path)
                times.append(time.perf_counter() - t)
                r.raise_for_status()
            out.append(
                {"path": path, "bytes": len(r.content), "first_s": times[0], "warm_s": times[1]}
            )
    return out


def cpu_seconds(pid: int) -> float:
    """User and system CPU time of a process so far (Linux /proc; NaN elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return math.nan


def open_study(browser, base: str, sid: int) -> tuple[object, float, int]:
    """Open the study page; seconds until history, EDF and table are drawn, and JSON bytes."""
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    api_bytes: list[int] = []

    def on_response(r) -> None:
        if "/v1/" in r.url:
            api_bytes.append(int(r.headers.get("content-length") or 0))

    page.on("response", on_response)
    t = time.perf_counter()
    page.goto(f"{base}/#/study/{sid}")
    page.wait_for_selector("#history svg circle.pt", timeout=60_000)
    page.wait_for_selector("#edf svg path.edf-line", timeout=60_000)
    page.wait_for_selector("#trials-table tbody tr[data-trial]", timeout=60_000)
    return page, time.perf_counter() - t, sum(api_bytes)


def measure_page(base: str, sid: int, shots: Path | None, server_pid: int) -> dict | None:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return None
    if chromium is None:
        return None
    httpx.get(f"{base}/", timeout=30)
    httpx.get(f"{base}/v1/dashboard/me", timeout=30)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        cpu = cpu_seconds(server_pid)
        page, cold, cold_bytes = open_study(browser, base, sid)
        cold_cpu = cpu_seconds(server_pid) - cpu
        page.close()
        cpu = cpu_seconds(server_pid)
        page, warm, warm_bytes = open_study(browser, base, sid)
        warm_cpu = cpu_seconds(server_pid) - cpu
        if shots is not None:
            shots.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(shots / "bench-study-100k.png"))

        running = httpx.get(
            f"{base}/v1/dashboard/studies/{sid}/trials",
            params={"state": "running", "limit": 1},
            timeout=30,
        ).json()["items"][0]["id"]
        httpx.post(f"{base}/v1/trials/{running}:tell", json={"values": {"loss": 0.5}}, timeout=30)
        t = time.perf_counter()
        page.wait_for_selector(
            f"#trials-table tbody tr[data-trial='{running}'] .badge.completed", timeout=30_000
        )
        live = time.perf_counter() - t

        t = time.perf_counter()
        page.click("#trials-pager [data-page=next]")
        page.wait_for_function(
            "document.querySelector('#trials-pager .range').textContent.startsWith('51')",
            timeout=30_000,
        )
        paged = time.perf_counter() - t
        t = time.perf_counter()
        page.click("#study-tabs a[data-tab=params]")
        page.wait_for_selector("#parallel svg path.pc-line", timeout=60_000)
        page.wait_for_selector("#contour svg rect.cell", timeout=60_000)
        page.wait_for_selector("#importance .bar-row", timeout=60_000)
        page.wait_for_selector("#rank svg circle.rank-pt", timeout=60_000)
        params_tab = time.perf_counter() - t
        if shots is not None:
            page.screenshot(path=str(shots / "bench-params-100k.png"), full_page=True)
        browser.close()
        return {
            "cold_load_s": cold,
            "cold_api_bytes": cold_bytes,
            "cold_server_cpu_s": cold_cpu,
            "warm_load_s": warm,
            "warm_api_bytes": warm_bytes,
            "warm_server_cpu_s": warm_cpu,
            "tell_visible_s": live,
            "next_page_s": paged,
            "params_tab_s": params_tab,
        }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=100_000)
    ap.add_argument("--database-url", default=None, help="default: a fresh SQLite file")
    ap.add_argument("--screenshots", type=Path, default=ROOT / "artifacts" / "screenshots")
    ap.add_argument("--json", action="store_true", help="print the results as JSON")
    ap.add_argument("--no-browser", action="store_true", help="measure the JSON API only")
    ap.add_argument(
        "--no-pareto", action="store_true", help="skip the two-objective study (hypervolume)"
    )
    args = ap.parse_args()

    tmp = tempfile.mkdtemp(prefix="asktell-bench-")
    url = args.database_url or f"sqlite:///{tmp}/bench.db"
    sid = seed_database(url, args.trials)
    port = free_port()
    env = {**os.environ, "ASKTELL_DATABASE_URL": url}
    server = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from asktell.cli import main; main()",
            "serve",
            "--port",
            str(port),
            "--no-worker",
            "--log-level",
            "warning",
        ],
        env=env,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        page = None if args.no_browser else measure_page(base, sid, args.screenshots, server.pid)
        api = measure_api(base, endpoints(sid))
        if not args.no_pareto:
            two = seed_database(url, args.trials, two=True)
            d = f"/v1/dashboard/studies/{two}"  # the Pareto front reads the columns first
            api += measure_api(base, [f"{d}/pareto", f"{d}/hypervolume"])
    finally:
        server.terminate()
        server.wait(10)
        shutil.rmtree(tmp, ignore_errors=True)
    if args.json:
        print(json.dumps({"trials": args.trials, "page": page, "api": api}, indent=2))
        return
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"\nstudy with {args.trials} trials on {url.split(':')[0]} "
        f"({os.cpu_count()} CPUs, load average {load:.1f} at the end)"
    )
    if page:
        print(
            f"study page until history, EDF and table are drawn: {page['cold_load_s']:.2f}s "
            f"with the study's columns not yet cached ({page['cold_api_bytes'] / 1024:.0f} KiB "
            f"of JSON, {page['cold_server_cpu_s']:.2f}s of server CPU), {page['warm_load_s']:.2f}s "
            f"cached ({page['warm_api_bytes'] / 1024:.0f} KiB, "
            f"{page['warm_server_cpu_s']:.2f}s of server CPU)"
        )
        print(
            f"a tell shows in the open page after {page['tell_visible_s']:.2f}s; next table page "
            f"{page['next_page_s']:.2f}s; parameters tab {page['params_tab_s']:.2f}s (first read "
            "of the parameter columns)"
        )
    else:
        print("page load: skipped (no playwright or chromium)")
    print(f"{'endpoint':<62}{'bytes':>10}{'first s':>10}{'warm s':>10}")
    for row in api:
        print(f"{row['path']:<62}{row['bytes']:>10}{row['first_s']:>10.3f}{row['warm_s']:>10.3f}")


if __name__ == "__main__":
    main()
