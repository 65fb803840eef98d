// The surrogate view: the study's model along one parameter through the best point,
// computed on demand by a worker, and the acquisition values an ask would maximize there.

import { api, query } from "./api.js";
import { dot, el, empty, extent, fmt, frame, html, legend, line, padded, responsive } from "./plot.js";

const FINISHED = new Set(["done", "failed"]);
const POLL_MS = 500;
const MEAN = "#3b6fd8", BEST = "#d64550", OBS = "#2f9e6e", ACQ = "#8a5cc9";

/** Request the slice along `param`, poll until the worker is done; `alive()` says whether to go on. */
export async function compute(base, param, { alive = () => true, onWait = () => {} } = {}) {
  let d = await api(`${base}/surrogate`, { method: "POST", body: { param } });
  while (!FINISHED.has(d.state) && alive()) {
    onWait(d);
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    d = await api(`${base}/surrogate/${d.job_id}${query({ param })}`);
  }
  return d;
}

/** Draw a finished job's result (or its error) into `container`. */
export function draw(container, d) {
  const r = d.result || { error: `job ${d.job_id} is ${d.state}` };
  if (r.error) return message(container, r.error, true);
  responsive(container, () => render(container, r));
}

function render(container, r) {
  container.replaceChildren();
  const top = html("div", { class: "surrogate-mean" }), bottom = html("div", { class: "surrogate-acq" });
  container.append(top, bottom);
  const cat = r.type === "categorical";
  const pos = cat ? (v) => r.choices.indexOf(v) : (v) => v;
  const xs = r.x.map(pos);
  const xAxis = cat
    ? { type: "linear", domain: [-0.5, r.choices.length - 0.5], ticks: r.choices.map((c, i) => ({ v: i, label: String(c) })) }
    : { type: r.log ? "log" : "linear", domain: padded(extent(xs), r.log ? "log" : "linear", 0.02), integer: r.type === "int" };
  const lo = r.mean.map((m, i) => (m === null || r.std[i] === null ? null : m - 2 * r.std[i]));
  const hi = r.mean.map((m, i) => (m === null || r.std[i] === null ? null : m + 2 * r.std[i]));
  const obs = r.observed;
  const f = frame(top, {
    height: 280,
    x: { ...xAxis, label: r.param + (r.log ? " (log)" : "") },
    y: { domain: padded(extent(lo.concat(hi, obs.y, [r.best.value]))), label: r.objective },
  });
  if (cat) {
    xs.forEach((x, i) => {
      if (lo[i] === null) return;
      el("line", { x1: f.x(x), x2: f.x(x), y1: f.y(lo[i]), y2: f.y(hi[i]), stroke: MEAN, "stroke-width": 6, "stroke-opacity": 0.25, class: "band" }, f.plot);
    });
  } else {
    band(f, xs, lo, hi);
  }
  line(f, xs, r.mean, { stroke: MEAN, "stroke-width": 2, class: "mean" });
  xs.forEach((x, i) => dot(f, x, r.mean[i], { r: cat || r.type === "int" ? 3.5 : 0, fill: MEAN },
    `${r.param} ${fmt(r.x[i], 6)} · mean ${fmt(r.mean[i], 5)} ± ${fmt(2 * r.std[i], 3)} (2σ)`));
  marker(f, pos(r.best.x));
  obs.x.forEach((x, i) => {
    const near = Math.max(0.15, 1 - obs.distance[i] / 0.5);
    dot(f, pos(x), obs.y[i], { r: 3, fill: OBS, "fill-opacity": near, stroke: OBS, "stroke-opacity": near, class: "obs" },
      `trial ${obs.trial_id[i]} · ${r.param} ${fmt(x, 6)} · ${r.objective} ${fmt(obs.y[i], 6)} · ${fmt(obs.distance[i], 2)} from the slice`);
  });
  legend(top, [
    { label: "model mean", color: MEAN },
    { label: "±2σ", color: "#c4d3f4" },
    { label: "completed trials (faded: far from the slice)", color: OBS },
    { label: `best trial ${r.best.trial_id}`, color: BEST },
  ]);
  const g = frame(bottom, {
    height: 150,
    x: { ...xAxis, label: r.param },
    y: { domain: padded(extent(r.acquisition)), label: "log acquisition" },
  });
  line(g, xs, r.acquisition, { stroke: ACQ, "stroke-width": 2, class: "acq" });
  xs.forEach((x, i) => dot(g, x, r.acquisition[i], { r: cat || r.type === "int" ? 3 : 0, fill: ACQ }, `${r.param} ${fmt(r.x[i], 6)} · ${fmt(r.acquisition[i], 5)}`));
  marker(g, pos(r.best.x));
  const pending = r.n_pending ? ` · ${r.n_pending} pending point${r.n_pending > 1 ? "s" : ""} included` : "";
  container.appendChild(html("div", { class: "note" },
    `${r.model} (${r.strategy}) fit on ${r.n_fit} trials in ${fmt(r.seconds, 3)} s · other parameters at the best trial · ${r.acquisition_name}${pending}`));
}

/** The ±2σ band as one closed path over the finite points. */
function band(f, xs, lo, hi) {
  const up = [], down = [];
  xs.forEach((x, i) => {
    if (lo[i] === null || hi[i] === null) return;
    up.push(`${f.x(x).toFixed(1)},${f.y(hi[i]).toFixed(1)}`);
    down.unshift(`${f.x(x).toFixed(1)},${f.y(lo[i]).toFixed(1)}`);
  });
  if (up.length) el("path", { d: `M${up.join("L")}L${down.join("L")}Z`, fill: MEAN, "fill-opacity": 0.18, stroke: "none", class: "band" }, f.plot);
}

function marker(f, x) {
  const px = f.x(x);
  if (!Number.isFinite(px)) return;
  el("line", { x1: px, x2: px, y1: f.m.t, y2: f.height - f.m.b, stroke: BEST, "stroke-dasharray": "4 3", class: "best-x" }, f.plot);
}

/** A line of text in place of the plots (also on later resizes). */
export function message(container, text, bad = false) {
  responsive(container, () => {
    empty(container, text);
    if (bad) container.firstChild.classList.add("error-text");
  });
}

export function waiting(container, d) {
  message(container, d ? `computing… (job ${d.job_id} ${d.state})` : "computing…");
}
