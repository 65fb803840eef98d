"""The dashboard in headless Chromium against a real server fed by the Python client.

Screenshots go to artifacts/screenshots/ (kept by CI). Needs the `playwright` package and
a Chromium binary (`chromium` on PATH or ASKTELL_CHROMIUM); skipped without them.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from asktell_client import Client

from .conftest import CLUSTER_KEY
from .procs import READY_TIMEOUT, Cluster, Server, asktell_command, free_port

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(300)]

SHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"
CHROMIUM = (
    os.environ.get("ASKTELL_CHROMIUM")
    or shutil.which("chromium")
    or shutil.which("chromium-browser")
)
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
LIVE_SECONDS = 2.0
DASH = "\u2013"  # the pager separates the first and last row with an en dash
SPACE = [
    {"name": "x", "type": "float", "low": -5.0, "high": 5.0},
    {"name": "lr", "type": "float", "low": 1e-4, "high": 1.0, "log": True},
    {"name": "layers", "type": "int", "low": 1, "high": 6},
    {"name": "opt", "type": "categorical", "choices": ["adam", "sgd"]},
]


@pytest.fixture(scope="module")
def browser() -> Iterator:
    sync_api = pytest.importorskip("playwright.sync_api")
    if CHROMIUM is None:
        pytest.skip("no chromium binary (set ASKTELL_CHROMIUM)")
    with sync_api.sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


@pytest.fixture(scope="module")
def shared(tmp_path_factory) -> Iterator[tuple[Cluster, Server]]:
    """One open-mode server (with its worker) on SQLite for the tests that need no tokens."""
    tmp = tmp_path_factory.mktemp("dashboard")
    cluster = Cluster(tmp / "logs")
    url = f"sqlite:///{tmp / 'asktell.db'}"
    try:
        cluster.cli("db", "upgrade", "--database-url", url)
        yield cluster, start_server(cluster, url)
    finally:
        cluster.shutdown()


@pytest.fixture
def server(request, shared) -> Server:
    """The shared server; its logs are attached to a failing test's report."""
    request.node.stash[CLUSTER_KEY] = shared[0]
    return shared[1]


class Page:
    """A browser page on one server that records errors and any request leaving the server."""

    def __init__(self, browser, base: str, width: int = 1360, height: int = 900):
        self.base = base
        self.context = browser.new_context(viewport={"width": width, "height": height})
        self.errors: list[str] = []
        self.outside: list[str] = []
        self.context.route("**/*", self._route)
        self.page = self.context.new_page()
        self.page.set_default_timeout(15_000)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))

    def _route(self, route) -> None:
        if route.request.url.startswith(self.base):
            route.continue_()
        else:
            self.outside.append(route.request.url)
            route.abort()

    def goto(self, fragment: str) -> None:
        self.page.goto(f"{self.base}/{fragment}")

    def shot(self, name: str, full: bool = True) -> None:
        SHOTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=full)

    def count(self, selector: str) -> int:
        return self.page.locator(selector).count()

    def text(self, selector: str) -> str:
        return self.page.locator(selector).first.inner_text()

    def close(self) -> None:
        self.context.close()
        assert not self.errors, self.errors
        assert not self.outside, f"requests left the server: {self.outside}"


def objective(p: dict) -> float:
    return (p["x"] - 1.0) ** 2 + 0.3 * abs(math.log10(p["lr"]) + 2) + 0.05 * p["layers"]


def feed(study, n: int, evaluator: str, *, reports: bool = False, fail_every: int = 0) -> None:
    """Ask for n trials as `evaluator` and tell each (some failed, some with learning curves)."""
    for i, trial in enumerate(study.ask(n, evaluator=evaluator)):
        if fail_every and i % fail_every == fail_every - 1:
            trial.fail("diverged")
            continue
        value = objective(trial.params)
        if reports and i % 3 == 0:
            for step in range(6):
                trial.report(step, value + 2.0 / (step + 1))
        trial.tell(value)


def start_server(cluster, database_url: str, *, require_token: bool = False) -> Server:
    server = Server(cluster, database_url, worker=True, port=free_port())
    args = [
        *asktell_command(),
        "serve",
        "--port",
        str(server.port),
        "--database-url",
        database_url,
        "--worker",
        "--log-level",
        "info",
    ]
    if require_token:
        args.append("--require-token")
    server.proc = cluster.spawn("server", args)
    server.wait_ready(READY_TIMEOUT)
    return server


def wait_text(page, selector: str, predicate: str, timeout: float = 15_000) -> None:
    page.wait_for_function(
        f"() => {{ const e = document.querySelector({selector!r}); "
        f"return !!e && ({predicate})(e.textContent); }}",
        timeout=timeout,
    )


def test_study_page_plots_table_and_live_updates(browser, server):
    client = Client(base_url=server.base_url)
    study = client.studies.create("demo", space=SPACE, strategy="random")
    feed(study, 40, "gpu-a", reports=True, fail_every=9)
    feed(study, 25, "gpu-b")
    study.ask(2, evaluator="gpu-c")  # left running
    other = client.studies.create("other", space=SPACE, strategy="random")
    feed(other, 12, "cpu-1")

    ui = Page(browser, server.base_url)
    page = ui.page
    ui.goto("")
    page.wait_for_selector(f"#studies tbody tr[data-study='{study.id}']")
    row = page.locator(f"#studies tbody tr[data-study='{study.id}']")
    assert "demo" in row.inner_text() and "running" in row.inner_text()
    assert row.locator("td[data-col=trials]").inner_text() == "67"
    page.fill("#studies-search", "oth")
    page.wait_for_function(
        "document.querySelectorAll('#studies tbody tr[data-study]').length === 1"
    )
    page.fill("#studies-search", "")
    page.click("#studies th[data-sort=completed]")
    page.click("#studies th[data-sort=completed]")
    page.wait_for_function(
        "document.querySelector('#studies th.sorted')?.dataset.order === 'desc' && "
        f"document.querySelector('#studies tbody tr[data-study]').dataset.study === '{study.id}'"
    )
    ui.shot("studies")

    page.click(f"#studies a[href='#/study/{study.id}']")
    page.wait_for_selector("#history svg circle.pt")
    # attached, not visible: when the first trial stays the best the line is flat, zero-high
    page.wait_for_selector("#history svg path.best", state="attached")
    page.wait_for_selector("#edf svg path.edf-line")
    page.wait_for_selector("#strategies .bar-row[data-name=random]")
    completed = study.refresh().trial_counts["completed"]
    assert ui.count("#history svg circle.pt") == completed
    best_line_end = page.eval_on_selector(
        "#history svg path.best", "p => Number(p.getAttribute('d').split(',').pop())"
    )
    lowest_point = page.eval_on_selector_all(
        "#history svg circle.pt", "cs => Math.max(...cs.map(c => Number(c.getAttribute('cy'))))"
    )
    assert best_line_end == pytest.approx(lowest_point, abs=0.5)
    assert ui.count("#trials-table tbody tr") == 50
    assert ui.text("#trials-pager .range") == f"1{DASH}50 of 67"
    ui.shot("study-overview")

    # a tell from the client shows up without a reload
    (late,) = study.ask(1, evaluator="gpu-late")
    late.tell(0.0)
    told = time.monotonic()
    page.wait_for_function(
        f"document.querySelectorAll('#history svg circle.pt').length === {completed + 1}",
        timeout=LIVE_SECONDS * 1000,
    )
    page.wait_for_selector(
        f"#trials-table tbody tr[data-trial='{late.id}'] .badge.completed",
        timeout=LIVE_SECONDS * 1000,
    )
    assert time.monotonic() - told < LIVE_SECONDS + 0.5
    assert ui.text("#trials-pager .range") == f"1{DASH}50 of 68"

    # the table pages, sorts and filters on the server
    page.click("#trials-pager [data-page=next]")
    wait_text(page, "#trials-pager .range", f"t => t.startsWith('51{DASH}68')")
    assert ui.count("#trials-table tbody tr") == 18
    page.click("#trials-table thead th:text-is('value')")
    wait_text(page, "#trials-pager .range", f"t => t.startsWith('1{DASH}50')")
    page.click("#trials-table thead th:text-is('value')")
    page.wait_for_function(
        "document.querySelector('#trials-table thead th.sorted')?.dataset.order === 'asc'"
    )
    page.wait_for_selector(f"#trials-table tbody tr[data-trial='{late.id}']:first-child")
    page.select_option("#trials-state", "failed")
    wait_text(page, "#trials-pager .range", "t => t.endsWith('of 4')")
    assert ui.count("#trials-table tbody tr.failed") == 4
    page.select_option("#trials-state", "")

    page.click("#study-tabs a[data-tab=params]")
    page.wait_for_selector("#parallel svg path.pc-line")
    page.wait_for_selector("#contour svg rect.cell")
    page.wait_for_selector("#importance .bar-row")
    assert ui.count("#slices .slice svg") == 4
    assert ui.count("#importance .bar-row") == 4
    assert ui.text("#importance .bar-row .bar-label") == "x"
    ui.shot("study-parameters")

    page.click("#study-tabs a[data-tab=objectives]")
    page.wait_for_selector("#intermediates svg path.curve")
    assert page.locator("#pareto-card").is_hidden()  # one objective: no Pareto front
    page.click("#study-tabs a[data-tab=evaluators]")
    page.wait_for_selector("#timeline svg rect.span")
    page.wait_for_selector("#workers-table tbody tr")
    assert "cpu" in ui.text("#workers-table tbody")
    lanes = page.locator("#timeline svg .axes text").all_text_contents()
    assert {"gpu-a", "gpu-b", "gpu-c", "gpu-late"} <= set(lanes)
    ui.shot("study-evaluators")

    narrow = Page(browser, server.base_url, width=390, height=800)
    narrow.goto(f"#/study/{study.id}")
    narrow.page.wait_for_selector("#history svg circle.pt")
    narrow.page.wait_for_selector("#trials-table tbody tr[data-trial]")
    assert narrow.page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
    narrow.shot("study-narrow")
    narrow.close()
    ui.close()


def test_surrogate_panel_plots_the_model(browser, server):
    client = Client(base_url=server.base_url)
    study = client.studies.create("surrogate", space=SPACE, strategy="gp")
    for i, x in enumerate([-4.0, -2.0, -0.5, 0.5, 1.5, 3.0, 4.5, 2.0]):
        params = {
            "x": x,
            "lr": 10.0 ** -(i % 4),
            "layers": 1 + i % 6,
            "opt": ["adam", "sgd"][i % 2],
        }
        study.add_trial(params, objective(params))

    ui = Page(browser, server.base_url)
    page = ui.page
    ui.goto(f"#/study/{study.id}/params")
    page.wait_for_function("document.querySelectorAll('#surrogate-param option').length === 4")
    page.select_option("#surrogate-param", "x")
    page.click("#surrogate-compute")
    page.wait_for_selector("#surrogate .surrogate-mean svg path.mean", timeout=60_000)
    assert ui.count("#surrogate .surrogate-mean svg path.band") == 1
    assert ui.count("#surrogate .surrogate-mean svg circle.obs") == 8
    assert ui.count("#surrogate .surrogate-acq svg path.acq") == 1
    assert ui.count("#surrogate svg line.best-x") == 2
    ui.shot("study-surrogate")
    ui.close()


def test_pareto_and_compare(browser, server):
    client = Client(base_url=server.base_url)
    multi = client.studies.create(
        "two-objectives",
        space=SPACE,
        objectives={"loss": "minimize", "speed": "maximize"},
        strategy="random",
    )
    for trial in multi.ask(40, evaluator="w"):
        p = trial.params
        trial.tell({"loss": objective(p), "speed": -abs(p["x"] + 2.0) - 0.1 * p["layers"]})
    single = client.studies.create("one-objective", space=SPACE, strategy="random")
    feed(single, 30, "w")

    ui = Page(browser, server.base_url)
    page = ui.page
    ui.goto("")
    completed = f"#studies tr[data-study='{single.id}'] td[data-col=completed]"
    wait_text(page, completed, "t => t === '30'")
    feed(single, 2, "w")
    told = time.monotonic()
    wait_text(page, completed, "t => t === '32'", timeout=LIVE_SECONDS * 1000 + 1000)
    assert time.monotonic() - told < LIVE_SECONDS + 1.5

    ui.goto(f"#/study/{multi.id}/objectives")
    page.wait_for_selector("#pareto svg circle.front")
    front = {t.id for t in multi.pareto()}
    assert ui.count("#pareto svg circle.front") == len(front)
    ui.shot("study-pareto")

    ui.goto(f"#/compare?ids={multi.id},{single.id}")
    page.wait_for_function("document.querySelectorAll('#compare-history path.best').length === 2")
    page.wait_for_function("document.querySelectorAll('#compare-edf path.edf-line').length === 2")
    assert ui.count("#compare-picker input:checked") == 2
    page.check("#compare-log")
    page.wait_for_selector("#compare-history svg")
    ui.shot("compare")
    ui.close()


def test_actions_in_open_mode(browser, server):
    client = Client(base_url=server.base_url)
    study = client.studies.create("actions", space=SPACE, strategy="random")
    feed(study, 5, "w")
    (running,) = study.ask(1, evaluator="w")

    ui = Page(browser, server.base_url)
    page = ui.page
    ui.goto(f"#/study/{study.id}")
    wait_text(page, "#auth-button", "t => t.includes('read & write')")
    page.wait_for_selector("#study-actions button[data-action=pause]:not([disabled])")
    page.click("#study-actions button[data-action=pause]")
    wait_text(page, "#study-state", "t => t === 'paused'")
    assert study.refresh().state == "paused"
    page.click("#study-actions button[data-action=resume]")
    wait_text(page, "#study-state", "t => t === 'running'")

    page.wait_for_function("document.querySelectorAll('#strategy-select option').length > 2")
    options = page.locator("#strategy-select option").all_inner_texts()
    target = next(name for name in options if name not in ("random", "auto"))
    page.select_option("#strategy-select", target)
    page.click("#study-actions button[data-action=strategy]")
    page.wait_for_function(
        f"[...document.querySelectorAll('#study-facts .fact b')].some(b => b.textContent === "
        f"{target!r})"
    )
    assert study.refresh().strategy.name == target

    page.once("dialog", lambda d: d.accept("killed by hand"))
    page.click(f"#trials-table tr[data-trial='{running.id}'] button[data-fail]")
    page.wait_for_selector(f"#trials-table tr[data-trial='{running.id}'] .badge.failed")
    assert client.trials.get(running.id).refresh().failure_reason == "killed by hand"

    page.click("#study-actions button[data-action=add]")
    page.fill("#add-fields input[name=x]", "1.25")
    page.select_option("#add-fields select[name=opt]", label="sgd")
    page.fill("#add-fields input[name='value:value']", "0.125")
    ui.shot("add-trial-dialog", full=False)
    page.click("#add-dialog button[value=add]")
    page.wait_for_selector("#trials-table tbody tr.completed td.metric:text-is('0.125')")
    added = [t for t in study.trials() if t.strategy == "manual"]
    assert len(added) == 1 and added[0].params["x"] == 1.25 and added[0].params["opt"] == "sgd"
    ui.close()


def test_tokens_decide_read_only(browser, cluster, database_url):
    from asktell.db import repository as repo
    from asktell.db.session import Database

    db = Database(database_url)
    with db.write() as session:
        write = repo.create_token(session, project="team", name="rw")
        read = repo.create_token(session, project="team", name="ro", can_write=False)
    db.dispose()
    server = start_server(cluster, database_url, require_token=True)
    study = Client(base_url=server.base_url, token=write).studies.create(
        "secured", space=SPACE, strategy="random"
    )
    feed(study, 6, "w")

    ui = Page(browser, server.base_url)
    page = ui.page
    ui.goto("")
    page.wait_for_selector("#banner:not([hidden])")
    assert "token" in ui.text("#banner")
    assert ui.count("#studies tbody tr[data-study]") == 0

    def paste(token: str) -> None:
        page.click("#auth-button")
        page.fill("#token-input", token)
        page.click("#token-dialog button[value=save]")

    paste(read)
    wait_text(page, "#auth-button", "t => t.includes('read-only')")
    page.wait_for_selector(f"#studies tbody tr[data-study='{study.id}']")
    assert page.locator("#new-study").is_disabled()
    page.click(f"#studies a[href='#/study/{study.id}']")
    page.wait_for_selector("#history svg circle.pt")
    assert page.locator("#study-actions button[data-action=pause]").is_disabled()
    assert page.locator("#study-actions button[data-action=add]").is_disabled()
    assert page.locator("#study-actions button[data-action=delete]").is_disabled()
    page.wait_for_selector("#study-note button[data-note-edit]")
    assert page.locator("#study-note button[data-note-edit]").is_disabled()
    assert page.locator("#study-files .note-bar button").is_disabled()
    page.wait_for_selector("#live.streaming")  # the event stream carries the token
    ui.shot("study-read-only", full=False)
    with page.expect_download() as got:  # reading is enough for the CSV
        page.click("#trials-csv")
    assert len(Path(got.value.path()).read_text().splitlines()) == 7

    paste(write)
    wait_text(page, "#auth-button", "t => t.includes('read & write')")
    page.wait_for_selector("#study-actions button[data-action=pause]:not([disabled])")
    page.click("#study-actions button[data-action=pause]")
    wait_text(page, "#study-state", "t => t === 'paused'")
    assert page.evaluate("localStorage.getItem('asktell.token')") == write
    ui.close()


def tiny_png() -> bytes:
    """A 2x1 RGB PNG."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", 2, 1, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00\xff\x00\x00\x00\x00\xff")
    chunks = chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    return b"\x89PNG\r\n\x1a\n" + chunks


def test_notes_files_rank_and_telling_from_the_page(browser, server):
    client = Client(base_url=server.base_url)
    study = client.studies.create("human-in-the-loop", space=SPACE, strategy="random")
    feed(study, 20, "w")
    (running,) = study.ask(1, evaluator="lab")
    report = study.upload_artifact(b"step,loss\n0,1.0\n", name="report.csv")
    plot = running.upload_artifact(tiny_png(), name="curve.png")

    ui = Page(browser, server.base_url)
    page = ui.page
    ui.goto(f"#/study/{study.id}")
    page.wait_for_selector(f"#study-files tr[data-artifact='{report.id}']")
    assert "report.csv" in ui.text("#study-files")
    page.wait_for_selector("#live.streaming")  # change events are pushed

    # a study note, written in the page, rendered as text: HTML and script links stay inert
    hostile = (
        "# Plan\n- try **small** lr\n- see [docs](https://example.org/a)\n"
        '<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script>\n'
        "[click](javascript:window.__pwned=3)"
    )
    page.click("#study-note button[data-note-edit]")
    page.fill("#study-note textarea", hostile)
    page.click("#study-note button[data-note-save]")
    page.wait_for_selector("#study-note .md h3:text-is('Plan')")
    assert ui.count("#study-note .md li strong") == 1
    assert ui.count("#study-note img, #study-note script") == 0
    assert ui.count("#study-note a") == 1
    assert page.locator("#study-note a").get_attribute("href") == "https://example.org/a"
    assert "<script>" in ui.text("#study-note .md")
    assert page.evaluate("window.__pwned") is None
    assert study.note().body == hostile and study.note().version == 1

    # someone else saves meanwhile: the page's save is refused, the draft kept, then saved
    study.set_note("edited elsewhere", version=1)
    page.click("#study-note button[data-note-edit]")
    page.fill("#study-note textarea", "my edit")
    page.click("#study-note button[data-note-save]")
    wait_text(page, "#study-note [data-note-status]", "t => t.includes('meanwhile')")
    assert page.input_value("#study-note textarea") == "my edit"
    ui.shot("study-note-conflict", full=False)
    page.click("#study-note button[data-note-save]")
    page.wait_for_selector("#study-note .note-view[data-note-version='3']")
    assert study.note().body == "my edit"

    # a file uploaded from the page, downloaded with its name, then deleted
    page.set_input_files(
        "#study-files input[data-file-input]",
        files=[{"name": "notes.txt", "mimeType": "text/plain", "buffer": b"hello"}],
    )
    page.wait_for_selector("#study-files tr[data-artifact] button:text-is('notes.txt')")
    (uploaded,) = [a for a in study.artifacts() if a.name == "notes.txt"]
    assert study.download_artifact(uploaded) == b"hello"
    with page.expect_download() as got:
        page.click("#study-files button:text-is('report.csv')")
    assert got.value.suggested_filename == "report.csv"
    assert Path(got.value.path()).read_bytes() == b"step,loss\n0,1.0\n"
    ui.shot("study-notes-files")
    page.once("dialog", lambda d: d.accept())
    page.click(f"#study-files tr[data-artifact='{uploaded.id}'] button.danger")
    page.wait_for_selector(f"#study-files tr[data-artifact='{uploaded.id}']", state="detached")
    assert [a.name for a in study.artifacts()] == ["report.csv"]

    # the rank plot
    page.click("#study-tabs a[data-tab=params]")
    page.wait_for_selector("#rank svg circle.rank-pt")
    assert ui.count("#rank svg circle.rank-pt") == 20
    page.select_option("#rank-y", "opt")
    page.wait_for_selector("#rank svg .axes text:text-is('sgd')")
    ui.shot("study-rank")

    # tell the running trial from its dialog: a bad value names the field, then it completes
    page.click("#study-tabs a[data-tab=overview]")
    page.click(f"#trials-table tr[data-trial='{running.id}'] button[data-tell]")
    page.wait_for_selector(f"#trial-dialog .trial-files tr[data-artifact='{plot.id}']")
    preview = f"#trial-dialog img[data-preview='{plot.id}']"
    page.wait_for_function(f"document.querySelector({preview!r})?.naturalWidth === 2")
    page.fill("#trial-dialog input[data-tell-value=value]", "fast")
    page.click("#trial-dialog button[data-tell=completed]")
    wait_text(page, "#trial-dialog [data-tell-error]", "t => t.includes('values.value')")
    page.fill("#trial-dialog input[data-tell-value=value]", "0.25")
    ui.shot("trial-tell-dialog", full=False)
    page.click("#trial-dialog button[data-tell=completed]")
    page.wait_for_selector("#trial-dialog [data-trial-state=completed]")
    assert "null" not in ui.text("#trial-dialog .trial-body")
    assert ui.count("#trial-dialog .tell-form") == 0
    page.click("#trial-dialog button[data-close]")
    page.wait_for_selector(
        f"#trials-table tbody tr[data-trial='{running.id}'] .badge.completed",
        timeout=LIVE_SECONDS * 1000,
    )
    told = client.trials.get(running.id).refresh()
    assert told.state == "completed" and told.values == {"value": 0.25}
    ui.close()


def test_updates_fall_back_to_polling_without_the_event_stream(browser, server):
    client = Client(base_url=server.base_url)
    study = client.studies.create("no-push", space=SPACE, strategy="random")
    feed(study, 3, "w")
    (running,) = study.ask(1, evaluator="w")

    ui = Page(browser, server.base_url)
    page = ui.page
    ui.context.route("**/events*", lambda route: route.abort())  # a proxy that drops streams
    ui.goto(f"#/study/{study.id}")
    page.wait_for_selector(f"#trials-table tbody tr[data-trial='{running.id}'] .badge.running")
    assert ui.count("#live.streaming") == 0
    running.tell(1.0)
    told = time.monotonic()
    page.wait_for_selector(
        f"#trials-table tbody tr[data-trial='{running.id}'] .badge.completed",
        timeout=LIVE_SECONDS * 1000,
    )
    assert time.monotonic() - told < LIVE_SECONDS + 0.5
    ui.close()


def test_hypervolume_plot_and_csv_download(browser, server):
    client = Client(base_url=server.base_url)
    study = client.studies.create(
        "hv-two-objectives",
        space=SPACE,
        objectives={"loss": "minimize", "speed": "maximize"},
        strategy="random",
    )
    for i, trial in enumerate(study.ask(30, evaluator='=HYPERLINK("x")')):
        p = trial.params
        if i % 10 == 9:
            trial.fail("-diverged")
            continue
        trial.tell({"loss": objective(p), "speed": -abs(p["x"] + 2.0) - 0.1 * p["layers"]})
    base = f"{server.base_url}/v1/dashboard/studies/{study.id}"
    expected = httpx.get(f"{base}/hypervolume", timeout=30).json()

    ui = Page(browser, server.base_url)
    page = ui.page
    ui.goto(f"#/study/{study.id}/objectives")
    page.wait_for_selector("#hypervolume svg path.hv-line")
    assert ui.count("#hypervolume svg circle.hv-pt") == len(expected["ids"]) > 0
    assert "reference point: loss" in ui.text("#hypervolume .note")
    ui.shot("study-hypervolume")

    page.click("#study-tabs a[data-tab=overview]")
    page.wait_for_selector("#trials-table tbody tr[data-trial]")
    with page.expect_download() as got:
        page.click("#trials-csv")
    assert got.value.suggested_filename == f"study-{study.id}-hv-two-objectives-trials.csv"
    rows = list(csv.DictReader(io.StringIO(Path(got.value.path()).read_text())))
    assert sorted(int(r["id"]) for r in rows) == sorted(t.id for t in study.trials())
    assert {r["evaluator"] for r in rows} == {'\'=HYPERLINK("x")'}
    page.select_option("#trials-state", "failed")
    wait_text(page, "#trials-pager .range", "t => t.endsWith('of 3')")
    with page.expect_download() as got:
        page.click("#trials-csv")
    rows = list(csv.DictReader(io.StringIO(Path(got.value.path()).read_text())))
    assert [r["state"] for r in rows] == ["failed"] * 3
    assert {r["failure_reason"] for r in rows} == {"'-diverged"}
    ui.close()


def test_create_and_delete_a_study_from_the_page(browser, server):
    client = Client(base_url=server.base_url)
    ui = Page(browser, server.base_url)
    page = ui.page
    ui.goto("")
    page.wait_for_selector("#new-study:not([disabled])")
    page.click("#new-study")
    page.wait_for_selector("#create-dialog[open]")
    page.fill("#create-name", "made-in-the-page")
    bad = [{"name": "x", "type": "float", "low": 2.0, "high": 1.0}]
    page.fill("#create-space", json.dumps(bad))
    page.fill("#create-objectives [data-objective-name]", "loss")
    page.click("#create-add-objective")
    page.locator("#create-objectives [data-objective-name]").nth(1).fill("speed")
    page.locator("#create-objectives [data-objective-direction]").nth(1).select_option("maximize")
    page.click("#create-form [data-create-submit]")
    error = "#create-form [data-error-for=space]"
    wait_text(page, error, "t => t.startsWith('space[0]')")
    assert page.locator("#create-space.invalid").count() == 1
    assert page.locator("#create-dialog[open]").count() == 1
    ui.shot("create-study-error", full=False)

    page.fill("#create-space", "[{")
    page.click("#create-form [data-create-submit]")
    wait_text(page, error, "t => t.includes('not valid JSON')")
    page.fill("#create-space", json.dumps(SPACE))
    page.click("#create-form [data-create-submit]")
    page.wait_for_function("/^#\\/study\\/\\d+$/.test(location.hash)")
    wait_text(page, "#study-name", "t => t === 'made-in-the-page'")
    sid = int(page.evaluate("location.hash.split('/')[2]"))
    made = client.studies.get(sid).refresh()
    assert [o.name for o in made.objectives] == ["loss", "speed"]
    assert made.objectives[1].direction == "maximize" and len(made.space) == 4
    page.wait_for_selector("#hypervolume-card", state="attached")

    page.click("#study-actions button[data-action=delete]")
    page.wait_for_selector("#delete-dialog[open]")
    page.fill("#delete-confirm", "made-in-the-pag")
    assert page.locator("#delete-submit").is_disabled()
    page.fill("#delete-confirm", "made-in-the-page")
    ui.shot("delete-study-dialog", full=False)
    page.click("#delete-submit")
    page.wait_for_function("location.hash === '#/'")
    page.wait_for_selector("#studies tbody tr")
    assert ui.count(f"#studies tbody tr[data-study='{sid}']") == 0
    assert httpx.get(f"{server.base_url}/v1/studies/{sid}", timeout=30).status_code == 404
    ui.close()
