// One study: live summary, tabs of plots, the server-paged trials table and the write actions.

import { api, auth, download, onAuth, query } from "./api.js";
import * as charts from "./charts.js";
import { fileList } from "./files.js";
import { EventFeed, Poller } from "./live.js";
import { openDelete } from "./manage.js";
import { noteEditor } from "./notes.js";
import { PALETTE, STATE_COLORS, empty, fmt, fmtAgo, fmtCount, fmtDuration, html, responsive } from "./plot.js";
import * as rankplot from "./rankplot.js";
import * as surrogate from "./surrogate.js";
import { openTrial } from "./trial.js";

const $ = (sel) => document.querySelector(sel);
const $$ = (sel) => [...document.querySelectorAll(sel)];
const TAB_PANELS = {
  overview: ["history", "edf", "strategies", "trials"],
  params: ["importance", "contour", "rank", "sample"],
  objectives: ["pareto", "hypervolume", "intermediates"],
  evaluators: ["timeline", "queue"],
};
const MAX_PARAM_COLUMNS = 8;
const POLL_MS = 1000;
const POLL_WITH_EVENTS_MS = 10_000;
const NOTE_RELOAD_TICKS = 15;

let S = null;

export function mount({ id, tab }) {
  S = {
    id, tab, alive: true, summary: null, stamp: null, objective: null,
    base: `/v1/dashboard/studies/${id}`,
    table: { offset: 0, limit: 50, sort: "id", order: "desc", state: "", strategy: "", evaluator: "" },
    panels: {}, strategies: null, cleanup: [], tick: 0,
  };
  S.ready = new Promise((resolve) => { S.resolveReady = resolve; });
  resetView();
  const poller = new Poller(tick, POLL_MS);
  S.poller = poller;
  bindControls();
  S.cleanup.push(onAuth(() => { showActions(); poller.now(); }));
  showTab(tab);
  poller.start();
  const feed = liveFeed(S);
  S.cleanup.push(() => feed.stop());
  return {
    update(args) {
      if (args.id !== S.id) { this.unmount(); Object.assign(this, mount(args)); return; }
      showTab(args.tab);
    },
    unmount() {
      S.alive = false;
      poller.stop();
      for (const fn of S.cleanup) fn();
    },
  };
}

function resetView() {
  $("#study-name").textContent = "…";
  $("#study-state").textContent = "";
  $("#study-facts").replaceChildren();
  for (const id of ["history", "edf", "strategies", "importance", "contour", "rank", "parallel", "slices", "pareto", "hypervolume", "intermediates", "timeline", "queue", "workers", "study-note", "study-files"]) {
    empty($(`#${id}`), "loading…");
  }
  surrogate.message($("#surrogate"), "The model's mean and uncertainty along one parameter through the best trial, and the acquisition values: pick a parameter and press Compute.");
  $("#trials-table thead").replaceChildren();
  $("#curves-metric").replaceChildren();
  $("#trials-state").value = "";
  $("#trials-strategy").value = "";
  $("#trials-evaluator").value = "";
  $("#trials-size").value = "50";
  $("#trials-table tbody").replaceChildren();
  for (const a of $$("#study-tabs a")) a.href = `#/study/${S.id}/${a.dataset.tab}`;
}

function listen(target, event, fn) {
  target.addEventListener(event, fn);
  S.cleanup.push(() => target.removeEventListener(event, fn));
}

function bindControls() {
  listen($("#history-log"), "change", () => { redraw("history"); redraw("edf"); redraw("sample"); });
  listen($("#curves-log"), "change", () => redraw("intermediates"));
  listen(document.querySelector("#history-card .objective-select"), "change", (e) => {
    S.objective = e.target.value || null;
    refreshTab(true);
  });
  for (const id of ["contour-x", "contour-y"]) listen($(`#${id}`), "change", () => refresh("contour"));
  for (const id of ["pareto-x", "pareto-y"]) listen($(`#${id}`), "change", () => redraw("pareto"));
  for (const id of ["rank-x", "rank-y"]) listen($(`#${id}`), "change", () => redraw("rank"));
  listen($("#trials-table tbody"), "click", (e) => {
    const b = e.target.closest("button[data-open-trial]");
    if (b) showTrial(Number(b.dataset.openTrial), b.dataset.tell === "1");
  });
  listen($("#curves-metric"), "change", () => refresh("intermediates"));
  const t = S.table;
  listen($("#trials-state"), "change", (e) => { t.state = e.target.value; t.offset = 0; refresh("trials"); });
  listen($("#trials-strategy"), "change", (e) => { t.strategy = e.target.value; t.offset = 0; refresh("trials"); });
  let typing = 0;
  listen($("#trials-evaluator"), "input", (e) => {
    clearTimeout(typing);
    typing = setTimeout(() => { t.evaluator = e.target.value.trim(); t.offset = 0; refresh("trials"); }, 250);
  });
  listen($("#trials-size"), "change", (e) => { t.limit = Number(e.target.value); t.offset = 0; refresh("trials"); });
  listen($("#trials-pager"), "click", (e) => {
    const which = e.target.closest("button")?.dataset.page;
    if (!which) return;
    const total = S.panels.trials?.data?.total ?? 0;
    if (which === "first") t.offset = 0;
    if (which === "prev") t.offset = Math.max(0, t.offset - t.limit);
    if (which === "next" && t.offset + t.limit < total) t.offset += t.limit;
    refresh("trials");
  });
  listen($("#study-actions"), "click", onAction);
  listen($("#surrogate-compute"), "click", computeSurrogate);
  listen($("#trials-csv"), "click", downloadCsv);
  listen($("#add-dialog"), "close", onAddClose);
}

function showTab(tab) {
  if (!TAB_PANELS[tab]) tab = "overview";
  S.tab = tab;
  for (const a of $$("#study-tabs a")) a.classList.toggle("active", a.dataset.tab === tab);
  for (const p of $$("#page-study .tab")) p.hidden = p.dataset.pane !== tab;
  refreshTab(false);
}

// --------------------------------------------------------------------------- live summary

/** Change events from the server wake the poller; while they flow it polls only slowly.
 * A change made between the first summary and the stream's first event shows at once too:
 * that event carries the newer stamp. */
function liveFeed(mine) {
  const headers = () => (auth.token ? { Authorization: `Bearer ${auth.token}` } : {});
  const feed = new EventFeed(`${mine.base}/events`, headers,
    (e) => {
      const seen = mine.summary;
      if (seen && (e.stamp !== seen.stamp || e.updated_at !== seen.updated_at || e.state !== seen.state)) mine.poller.now();
    },
    (connected) => {
      mine.poller.interval = connected ? POLL_WITH_EVENTS_MS : POLL_MS;
      document.getElementById("live")?.classList.toggle("streaming", connected);
      if (!connected) mine.poller.now();
    });
  mine.ready.then(() => { if (mine.alive) feed.start(); });  // after the first summary: not in the way of the page load
  return feed;
}

async function tick() {
  const mine = S;
  let summary;
  try {
    summary = await api(mine.base);
  } catch (e) {
    if (!mine.alive) return true;
    if (e.status === 404 || e.status === 422) {
      $("#study-name").textContent = `Study ${mine.id} not found`;
      mine.poller.stop();
      return true;
    }
    return e.status === 401;
  }
  if (!mine.alive || mine !== S) return true;
  const first = !S.summary;
  const edited = !first && summary.updated_at !== S.summary.updated_at;
  S.summary = summary;
  S.stamp = summary.stamp;
  S.tick += 1;
  if (first) {
    setupFromSummary();
    S.resolveReady();
  }
  renderHead();
  if (edited) refresh("strategies");
  if (!first && S.tick % NOTE_RELOAD_TICKS === 0) { S.note?.reload(); S.files?.reload(); }
  refreshTab(false);
  if (S.tab === "evaluators" && S.tick % 2 === 0) refresh("queue");
  return true;
}

function setupFromSummary() {
  const s = S.summary;
  const objSel = document.querySelector("#history-card .objective-select");
  objSel.replaceChildren(...s.objectives.map((o) => html("option", { value: o.name }, `${o.name} (${o.direction})`)));
  objSel.hidden = s.objectives.length < 2;
  const params = s.plotted_params;
  fillSelect($("#contour-x"), params, params[0]);
  fillSelect($("#contour-y"), params, params[1] ?? params[0]);
  fillSelect($("#surrogate-param"), s.space.filter((p) => p.type !== "fixed").map((p) => p.name));
  const objs = s.objectives.map((o) => o.name);
  fillSelect($("#pareto-x"), objs, objs[0]);
  fillSelect($("#pareto-y"), objs, objs[1] ?? objs[0]);
  for (const id of ["pareto-x", "pareto-y"]) $(`#${id}`).hidden = objs.length < 2;
  $("#pareto-card").hidden = objs.length < 2;
  $("#hypervolume-card").hidden = objs.length < 2;
  $("#study-tabs a[data-tab=objectives]").textContent = objs.length < 2 ? "Learning curves" : "Pareto & curves";
  fillSelect($("#rank-x"), params, params[0]);
  fillSelect($("#rank-y"), params, params[1] ?? params[0]);
  const canWrite = () => auth.canWrite;
  S.note = noteEditor($("#study-note"), { url: `/v1/studies/${S.id}/note`, canWrite, label: "study note" });
  S.files = fileList($("#study-files"), { owner: `/v1/studies/${S.id}`, canWrite, notify: toast });
  loadStrategies();
  showActions();
}

function fillSelect(sel, names, value) {
  sel.replaceChildren(...names.map((n) => html("option", { value: n }, n)));
  if (value !== undefined) sel.value = value;
}

function renderHead() {
  const s = S.summary;
  document.title = `${s.name} · asktell`;
  $("#study-name").textContent = s.name;
  const badge = $("#study-state");
  badge.textContent = s.state;
  badge.className = `badge ${s.state}`;
  const facts = [
    fact("trials", fmtCount(s.trials)),
    ...Object.entries(s.counts).sort().map(([k, n]) => html("span", { class: "chip", style: `--c:${STATE_COLORS[k] || "#888"}` }, `${k} ${fmtCount(n)}`)),
    fact("strategy", s.strategy.name),
  ];
  if (s.best) {
    const o = s.objectives[0];
    facts.push(fact(`best ${o.name} (${o.direction})`, `${fmt(s.best.values[o.name], 6)} · trial ${s.best.id}`));
  }
  facts.push(fact("last activity", fmtAgo(s.last_activity)));
  $("#study-facts").replaceChildren(...facts);
  const strat = $("#trials-strategy");
  const names = Object.keys(s.strategies).sort();
  const key = names.join("\u0000");
  if (strat.dataset.key !== key) {
    const cur = strat.value;
    strat.replaceChildren(html("option", { value: "" }, "all strategies"), ...names.map((n) => html("option", { value: n }, n)));
    strat.value = names.includes(cur) ? cur : "";
    strat.dataset.key = key;
  }
  showActions();
}

function fact(label, value) {
  return html("span", { class: "fact" }, html("small", {}, label), html("b", {}, value));
}

// --------------------------------------------------------------------------- panels

const PANELS = {
  history: {
    load: () => api(`${S.base}/history${query({ objective: S.objective })}`),
    draw: (d) => responsive($("#history"), () => charts.history($("#history"), d, { log: $("#history-log").checked })),
  },
  edf: {
    load: () => api(`${S.base}/edf${query({ objective: S.objective })}`),
    draw: (d) => responsive($("#edf"), () => charts.edf($("#edf"), [{ label: d.objective, x: d.x, y: d.y, color: "#3b6fd8" }], { log: $("#history-log").checked, label: d.objective })),
  },
  strategies: {
    needs: true,
    load: async () => S.summary.strategies,
    draw: (d) => drawStrategies(d),
  },
  trials: {
    load: () => {
      const t = S.table;
      return api(`${S.base}/trials${query({ offset: t.offset, limit: t.limit, sort: t.sort, order: t.order, state: t.state, strategy: t.strategy, evaluator: t.evaluator })}`);
    },
    draw: (d) => drawTrials(d),
  },
  importance: {
    load: () => api(`${S.base}/importance${query({ objective: S.objective })}`),
    draw: (d) => charts.bars($("#importance"), d.items.map((it) => ({ label: it.name, value: it.importance ?? 0, text: `${((it.importance ?? 0) * 100).toFixed(1)}%` })), { max: Math.max(...d.items.map((i) => i.importance ?? 0), 1e-9) }),
  },
  contour: {
    needs: true,
    load: () => {
      const x = $("#contour-x").value, y = $("#contour-y").value;
      if (!x || !y || x === y) return Promise.resolve(null);
      const n = S.summary.counts.completed || 0;
      const bins = Math.max(6, Math.min(30, Math.round(Math.sqrt(n) / 1.5)));
      return api(`${S.base}/contour${query({ x, y, bins, objective: S.objective })}`);
    },
    draw: (d) => {
      if (!d) return empty($("#contour"), S.summary.plotted_params.length < 2 ? "Needs two parameters." : "Pick two different parameters.");
      responsive($("#contour"), () => charts.contour($("#contour"), d));
    },
  },
  rank: {
    load: () => api(`${S.base}/rank${query({ objective: S.objective })}`),
    draw: (d) => responsive($("#rank"), () => rankplot.rank($("#rank"), d, { x: $("#rank-x").value, y: $("#rank-y").value })),
  },
  sample: {
    load: () => api(`${S.base}/sample${query({ objective: S.objective })}`),
    draw: (d) => {
      responsive($("#parallel"), () => charts.parallel($("#parallel"), d));
      responsive($("#slices"), () => charts.slices($("#slices"), d, { log: $("#history-log").checked }));
    },
  },
  pareto: {
    needs: true,
    load: () => (S.summary.objectives.length < 2 ? Promise.resolve(null) : api(`${S.base}/pareto`)),
    draw: (d) => {
      if (!d) return empty($("#pareto"), "Single-objective study: no Pareto front.");
      const names = d.objectives.map((o) => o.name);
      const xi = Math.max(0, names.indexOf($("#pareto-x").value)), yi = Math.max(0, names.indexOf($("#pareto-y").value));
      responsive($("#pareto"), () => charts.pareto($("#pareto"), d, { xi, yi }));
    },
  },
  hypervolume: {
    needs: true,
    load: () => (S.summary.objectives.length < 2 ? Promise.resolve(null) : api(`${S.base}/hypervolume`)),
    draw: (d) => {
      if (!d) return empty($("#hypervolume"), "Single-objective study: no hypervolume.");
      responsive($("#hypervolume"), () => charts.hypervolume($("#hypervolume"), d));
    },
  },
  intermediates: {
    load: () => api(`${S.base}/intermediates${query({ metric: $("#curves-metric").value || undefined })}`),
    draw: (d) => {
      const sel = $("#curves-metric");
      if (sel.options.length !== d.metrics.length) fillSelect(sel, d.metrics, d.metric);
      responsive($("#intermediates"), () => charts.curves($("#intermediates"), d, { log: $("#curves-log").checked }));
    },
  },
  timeline: {
    load: () => api(`${S.base}/timeline`),
    draw: (d) => responsive($("#timeline"), () => charts.timeline($("#timeline"), d)),
  },
  queue: {
    load: () => api(`${S.base}/queue`),
    draw: (d) => drawQueue(d),
  },
};

function refreshTab(force) {
  for (const name of TAB_PANELS[S.tab]) {
    const p = S.panels[name];
    if (p && p.busy && !force) continue;
    if (force || !p || p.stamp !== S.stamp || p.objective !== S.objective) refresh(name);
  }
}

/** Fetch a panel's data and draw it; the payload's stamp says which state of the study it shows. */
async function refresh(name) {
  const p = (S.panels[name] ||= { busy: false, again: false });
  if (p.busy) { p.again = true; return; }
  p.busy = true;
  const objective = S.objective, mine = S, panel = PANELS[name];
  try {
    if (panel.needs) await mine.ready;
    const data = await panel.load();
    await mine.ready;
    if (!mine.alive) return;
    Object.assign(p, { data, stamp: (data && data.stamp) || mine.stamp, objective, error: null });
    panel.draw(data);
  } catch (e) {
    if (!mine.alive) return;
    Object.assign(p, { error: e, stamp: mine.stamp, objective });
    const target = name === "sample" ? $("#parallel") : name === "trials" ? $("#trials-table tbody") : $(`#${name}`);
    if (name === "trials") target.replaceChildren(html("tr", {}, html("td", { class: "error" }, `error: ${e.message}`)));
    else empty(target, `error: ${e.message}`);
  } finally {
    p.busy = false;
    if (p.again && mine.alive) { p.again = false; refresh(name); }
  }
}

function redraw(name) {
  const p = S.panels[name];
  if (p && p.data !== undefined && !p.error) PANELS[name].draw(p.data);
}

function drawStrategies(d) {
  const names = Object.keys(d);
  const order = S.panels.history?.data?.strategies || [];
  const color = (n) => PALETTE[(order.includes(n) ? order.indexOf(n) : order.length + names.indexOf(n)) % PALETTE.length];
  const items = names.map((n) => {
    const counts = d[n];
    const total = Object.values(counts).reduce((a, b) => a + b, 0);
    const parts = Object.entries(counts).sort().map(([k, v]) => `${k} ${fmtCount(v)}`).join(", ");
    return { label: n, value: total, color: color(n), text: `${fmtCount(total)} · ${parts}` };
  }).sort((a, b) => b.value - a.value);
  charts.bars($("#strategies"), items);
  const current = S.summary.strategy.name;
  $("#strategies").appendChild(html("div", { class: "note" }, `current strategy: ${current}. Each trial records the strategy that produced it; the history colours points by it.`));
}

/** Ask a worker for the surrogate along the chosen parameter and draw it when done. */
async function computeSurrogate() {
  const mine = S, param = $("#surrogate-param").value, box = $("#surrogate"), button = $("#surrogate-compute");
  if (!param) return;
  button.disabled = true;
  surrogate.waiting(box);
  try {
    const d = await surrogate.compute(mine.base, param, {
      alive: () => mine.alive && mine === S,
      onWait: (job) => surrogate.waiting(box, job),
    });
    if (mine.alive && mine === S) surrogate.draw(box, d);
  } catch (e) {
    if (mine.alive && mine === S) surrogate.message(box, `error: ${e.message}`, true);
  } finally {
    button.disabled = false;
  }
}

// --------------------------------------------------------------------------- trials table

function columns() {
  const s = S.summary;
  const metrics = [...s.objectives.map((o) => o.name), ...s.constraints.map((c) => c.name)];
  const params = s.plotted_params.slice(0, MAX_PARAM_COLUMNS);
  return [
    { key: "id", label: "#", sort: "id", cell: (t) => html("button", { type: "button", class: "link", "data-open-trial": t.id, title: "Open the trial: values, note, files" }, String(t.id)), cls: "num" },
    { key: "state", label: "state", sort: "state", cell: (t) => html("span", { class: `badge ${t.state}`, title: t.failure_reason || "" }, t.state) },
    ...metrics.map((m) => ({ key: `v:${m}`, label: m, sort: `value.${m}`, cls: "num metric", cell: (t) => (t.values && m in t.values ? fmt(t.values[m], 6) : "–") })),
    ...params.map((p) => ({ key: `p:${p}`, label: p, sort: `param.${p}`, cls: "param", cell: (t) => (p in t.params ? (typeof t.params[p] === "number" ? fmt(t.params[p], 5) : String(t.params[p])) : "–") })),
    { key: "strategy", label: "strategy", sort: "strategy", cell: (t) => t.strategy || "–" },
    { key: "evaluator", label: "evaluator", sort: "evaluator", cell: (t) => t.evaluator || "–" },
    { key: "started", label: "started", sort: "started_at", cell: (t) => html("span", { title: t.started_at || "" }, t.started_at ? new Date(t.started_at).toLocaleTimeString() : "–") },
    { key: "duration", label: "duration", cls: "num", cell: (t) => duration(t) },
    { key: "actions", label: "", cell: (t) => actionsCell(t) },
  ];
}

function duration(t) {
  const start = t.started_at || t.created_at;
  const end = t.finished_at || (["running", "pending"].includes(t.state) ? new Date().toISOString() : t.heartbeat_at);
  if (!start || !end) return "–";
  return fmtDuration((new Date(end) - new Date(start)) / 1000);
}

function actionsCell(t) {
  if (!["pending", "running", "stale"].includes(t.state)) return "";
  const ro = "read-only: paste a token with write rights";
  const tell = html("button", { type: "button", class: "small", "data-open-trial": t.id, "data-tell": "1", "data-write": "", disabled: !auth.canWrite, title: auth.canWrite ? "Enter this trial's result" : ro }, "Tell…");
  const b = html("button", { type: "button", class: "small danger", "data-fail": t.id, disabled: !auth.canWrite, title: auth.canWrite ? "Mark this trial failed" : ro }, "Fail");
  b.addEventListener("click", () => failTrial(t.id));
  return html("span", { class: "row-actions" }, tell, b);
}

function showTrial(id, focusTell) {
  const mine = S;
  openTrial(id, { summary: S.summary, notify: toast, focusTell, onChange: () => { if (mine.alive) mine.poller.now(); } });
}

function drawTrials(d) {
  const t = S.table;
  const cols = columns();
  const head = html("tr", {}, ...cols.map((c) => {
    const th = html("th", { class: [c.cls, c.sort ? "sortable" : "", t.sort === c.sort ? "sorted" : ""].join(" ").trim(), "data-order": t.sort === c.sort ? t.order : "" }, c.label);
    if (c.sort) th.addEventListener("click", () => {
      t.order = t.sort === c.sort && t.order === "desc" ? "asc" : "desc";
      t.sort = c.sort;
      t.offset = 0;
      refresh("trials");
    });
    return th;
  }));
  $("#trials-table thead").replaceChildren(head);
  const body = $("#trials-table tbody");
  if (!d.items.length) {
    body.replaceChildren(html("tr", {}, html("td", { colspan: cols.length, class: "empty" }, "No trials match.")));
  } else {
    body.replaceChildren(...d.items.map((trial) => html("tr", { "data-trial": trial.id, class: trial.state },
      ...cols.map((c) => html("td", { class: c.cls || "" }, c.cell(trial))))));
  }
  const pager = $("#trials-pager");
  const from = d.total ? d.offset + 1 : 0, to = d.offset + d.items.length;
  pager.querySelector(".range").textContent = `${fmtCount(from)}–${fmtCount(to)} of ${fmtCount(d.total)}`;
  pager.querySelector("[data-page=first]").disabled = d.offset === 0;
  pager.querySelector("[data-page=prev]").disabled = d.offset === 0;
  pager.querySelector("[data-page=next]").disabled = to >= d.total;
}

/** The trials that match the table's filters, as a CSV file. */
async function downloadCsv() {
  const t = S.table, button = $("#trials-csv");
  button.disabled = true;
  button.textContent = "Downloading…";
  try {
    const got = await download(`${S.base}/trials.csv${query({ state: t.state, strategy: t.strategy, evaluator: t.evaluator })}`, `study-${S.id}-trials.csv`);
    toast(`${got.name} (${fmtCount(Math.round(got.bytes / 1024))} KiB)`);
  } catch (e) {
    toast(`CSV download failed: ${e.message}`, true);
  } finally {
    button.disabled = false;
    button.textContent = "Download CSV";
  }
}

// --------------------------------------------------------------------------- queue and workers

function drawQueue(d) {
  const jobs = d.jobs;
  const q = $("#queue");
  const rows = jobs.map((j) => html("tr", { class: j.state },
    html("td", { class: "num" }, String(j.id)),
    html("td", {}, html("span", { class: `badge ${j.state}` }, j.state)),
    html("td", { class: "num" }, fmtDuration(j.state === "leased" ? j.leased_for : j.age)),
    html("td", { title: j.worker_id || "" }, j.worker_id ? short(j.worker_id) : "–"),
    html("td", {}, j.device || "–"),
    html("td", { class: "num" }, String(j.attempts)),
    html("td", { class: "num" }, j.compute_seconds === null ? "–" : fmtDuration(j.compute_seconds)),
    html("td", { class: "error-text", title: j.error || "" }, j.error ? j.error.slice(0, 60) : "")));
  const leased = jobs.filter((j) => j.state === "leased").length, queued = jobs.filter((j) => j.state === "queued").length;
  q.replaceChildren(
    html("div", { class: "facts" }, fact("queued", String(queued)), fact("leased", String(leased)), fact("asks waiting", String(d.waiting_asks))),
    jobs.length
      ? html("div", { class: "table-wrap" }, html("table", { class: "grid compact", id: "jobs-table" },
        html("thead", {}, html("tr", {}, ...["job", "state", "age / leased", "worker", "device", "tries", "compute", "error"].map((h) => html("th", {}, h)))),
        html("tbody", {}, ...rows)))
      : html("div", { class: "empty" }, "No suggestion jobs yet."));
  const w = $("#workers");
  w.replaceChildren(d.workers.length
    ? html("div", { class: "table-wrap" }, html("table", { class: "grid compact", id: "workers-table" },
      html("thead", {}, html("tr", {}, ...["worker", "host", "device", "heartbeat", "busy with"].map((h) => html("th", {}, h)))),
      html("tbody", {}, ...d.workers.map((x) => html("tr", {},
        html("td", { title: x.id }, html("span", { class: `dot ${x.alive ? "alive" : "dead"}` }), short(x.id)),
        html("td", {}, x.host),
        html("td", {}, html("b", {}, x.device)),
        html("td", {}, `${fmtDuration(x.heartbeat_age)} ago`),
        html("td", {}, x.study_id ? html("a", { href: `#/study/${x.study_id}` }, `study ${x.study_id}`) : "idle"))))))
    : html("div", { class: "empty" }, "No worker has been seen in the last hour."));
}

function short(id) {
  return id.length > 22 ? `${id.slice(0, 10)}…${id.slice(-8)}` : id;
}

// --------------------------------------------------------------------------- actions

async function loadStrategies() {
  const sel = $("#strategy-select");
  const current = S.summary.strategy.name;
  if (!S.strategies) sel.replaceChildren(html("option", { value: current }, current));
  try {
    S.strategies = S.strategies || (await api("/v1/strategies"));
  } catch {
    S.strategies = [{ name: S.summary.strategy.name, description: "" }];
  }
  sel.replaceChildren(...S.strategies.map((s) => html("option", { value: s.name, title: s.description }, s.name)));
  sel.value = S.summary.strategy.name;
}

function showActions() {
  if (!S || !S.summary) return;
  const st = S.summary.state;
  const box = $("#study-actions");
  const visible = { pause: st === "running", resume: st !== "running", done: st !== "done", strategy: true, add: true, delete: true };
  for (const b of box.querySelectorAll("button[data-action]")) {
    b.hidden = !visible[b.dataset.action];
    b.disabled = !auth.canWrite;
    b.title = auth.canWrite ? "" : "read-only: paste a token with write rights";
  }
  $("#strategy-select").disabled = !auth.canWrite;
  box.classList.toggle("disabled", !auth.canWrite);
  for (const b of $$("#trials-table button[data-fail], #trials-table button[data-write]")) b.disabled = !auth.canWrite;
  S.note?.render();
  S.files?.render();
}

async function onAction(e) {
  const b = e.target.closest("button[data-action]");
  if (!b || b.disabled) return;
  const act = b.dataset.action;
  if (act === "add") return openAddDialog();
  if (act === "delete") return openDelete(S.summary, { onDeleted: () => { toast(`study ${S.summary.name} deleted`); location.hash = "#/"; } });
  const body = act === "pause" ? { state: "paused" } : act === "resume" ? { state: "running" } : act === "done" ? { state: "done" } : { strategy: { name: $("#strategy-select").value } };
  await write(() => api(S.base.replace("/v1/dashboard", "/v1"), { method: "PATCH", body }), `study ${act === "strategy" ? "strategy changed" : "updated"}`);
}

async function failTrial(id) {
  const reason = prompt(`Mark trial ${id} failed. Reason:`, "failed from the dashboard");
  if (reason === null) return;
  await write(() => api(`/v1/trials/${id}:tell`, { method: "POST", body: { state: "failed", reason } }), `trial ${id} marked failed`);
}

async function write(fn, done) {
  try {
    await fn();
    toast(done);
    S.poller.now();
  } catch (e) {
    toast(`${e.message}${e.field ? ` (${e.field})` : ""}`, true);
  }
}

export function toast(text, bad = false) {
  let box = document.getElementById("toasts");
  if (!box) {
    box = html("div", { id: "toasts", class: "toasts" });
    document.body.appendChild(box);
  }
  const t = html("div", { class: `toast ${bad ? "bad" : ""}`, role: "status" }, text);
  box.appendChild(t);
  setTimeout(() => t.remove(), 4000);
}

function openAddDialog() {
  const s = S.summary;
  const box = $("#add-fields");
  const inputs = [];
  const rows = s.space.map((p) => {
    let input;
    if (p.type === "categorical") {
      input = html("select", { name: p.name }, ...p.choices.map((c, i) => html("option", { value: String(i) }, String(c))));
      input.parse = () => p.choices[Number(input.value)];
    } else if (p.type === "fixed") {
      input = html("input", { name: p.name, value: String(p.value), readonly: true });
      input.parse = () => p.value;
    } else {
      const mid = p.log ? Math.sqrt(p.low * p.high) : (p.low + p.high) / 2;
      const v = p.type === "int" ? p.low + Math.round((mid - p.low) / (p.step || 1)) * (p.step || 1) : Number(mid.toPrecision(4));
      input = html("input", { name: p.name, type: "number", step: p.type === "int" ? String(p.step || 1) : "any", min: String(p.low), max: String(p.high), value: String(v), required: true });
      input.parse = () => Number(input.value);
    }
    inputs.push({ p, input });
    const hint = p.type === "categorical" || p.type === "fixed" ? "" : `[${p.low}, ${p.high}]${p.log ? " log" : ""}`;
    return html("label", { class: "field", "data-param": p.name }, html("span", {}, p.name, html("small", {}, ` ${hint}`)), input);
  });
  const metrics = [...s.objectives.map((o) => o.name), ...s.constraints.map((c) => c.name)];
  const valueInputs = metrics.map((m) => html("input", { name: `value:${m}`, type: "number", step: "any", placeholder: "optional" }));
  box.replaceChildren(
    html("h3", {}, "Parameters"), ...rows,
    html("h3", {}, "Values"), ...metrics.map((m, i) => html("label", { class: "field" }, html("span", {}, m), valueInputs[i])));
  const sync = () => {
    const assign = {};
    for (const { p, input } of inputs) {
      const active = !p.condition || (p.condition.parent in assign && p.condition.values.some((v) => v === assign[p.condition.parent]));
      input.closest("label").hidden = !active;
      input.disabled = !active;
      if (active) assign[p.name] = input.parse();
    }
    return assign;
  };
  for (const { input } of inputs) input.addEventListener("change", sync);
  sync();
  S.addForm = { sync, metrics, valueInputs };
  $("#add-error").hidden = true;
  $("#add-dialog").showModal();
}

async function onAddClose() {
  const dlg = $("#add-dialog");
  if (dlg.returnValue !== "add" || !S.addForm) return;
  const { sync, metrics, valueInputs } = S.addForm;
  const params = sync();
  const values = {};
  metrics.forEach((m, i) => { if (valueInputs[i].value !== "") values[m] = Number(valueInputs[i].value); });
  const body = { params };
  if (Object.keys(values).length) body.values = values;
  try {
    const trial = await api(`/v1/studies/${S.id}/trials`, { method: "POST", body });
    toast(`trial ${trial.id} added (${trial.state})`);
    S.poller.now();
  } catch (e) {
    $("#add-error").textContent = `${e.message}${e.field ? ` (${e.field})` : ""}`;
    $("#add-error").hidden = false;
    dlg.returnValue = "";
    dlg.showModal();
  }
}
