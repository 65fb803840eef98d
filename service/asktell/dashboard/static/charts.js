// The dashboard's charts, each drawn from one downsampled JSON payload.

import {
  PALETTE, STATE_COLORS, dot, el, empty, extent, fmt, frame, html, legend, line, padded, scale,
  valueColor, viridis,
} from "./plot.js";

const positive = (v) => v !== null && v > 0;

/** Value axis type: log only when asked and every value is positive. */
function valueAxis(values, log) {
  const usable = log && values.filter((v) => v !== null).every(positive);
  return usable ? "log" : "linear";
}

/** Optimization history: every shown trial, coloured by strategy, and the best-so-far line. */
export function history(container, d, { log = false, height = 300 } = {}) {
  if (!d.ids.length) return empty(container, "No completed trials yet.");
  const type = valueAxis(d.values.concat(d.best_values), log);
  const ys = (type === "log" ? d.values.filter(positive) : d.values).concat(d.best_values);
  const f = frame(container, {
    height,
    x: { domain: padded(extent(d.ids), "linear", 0.02), label: "trial id", integer: true },
    y: { type, domain: padded(extent(ys), type), label: d.objective + (type === "log" ? " (log)" : "") },
  });
  for (let i = 0; i < d.ids.length; i++) {
    const infeasible = d.feasible && !d.feasible[i];
    const color = infeasible ? "#b8bfcc" : PALETTE[d.strategy[i] % PALETTE.length];
    const name = d.strategies[d.strategy[i]];
    dot(f, d.ids[i], d.values[i], {
      r: 2.6, fill: infeasible ? "none" : color, stroke: color, "fill-opacity": 0.7, class: "pt",
    }, `trial ${d.ids[i]} · ${d.objective} ${fmt(d.values[i], 6)} · ${name}${infeasible ? " · infeasible" : ""}`);
  }
  if (d.best_ids.length) {
    const xs = d.best_ids.concat([Math.max(d.last_id, d.best_ids[d.best_ids.length - 1])]);
    const vs = d.best_values.concat([d.best_values[d.best_values.length - 1]]);
    line(f, xs, vs, { stroke: "#d64550", "stroke-width": 2, class: "best" }, true);
  }
  const items = d.strategies.map((s, i) => ({ label: s, color: PALETTE[i % PALETTE.length] }));
  items.push({ label: `best so far (${d.direction})`, color: "#d64550" });
  if (d.feasible) items.push({ label: "infeasible", color: "#b8bfcc" });
  legend(container, items);
  note(container, d.shown < d.total ? `${d.shown.toLocaleString()} of ${d.total.toLocaleString()} completed trials shown (every improvement kept)` : null);
}

function note(container, text) {
  if (text) container.appendChild(html("div", { class: "note" }, text));
}

/** Empirical distribution functions of one or more series: [{label, x, y, color}]. */
export function edf(container, series, { log = false, label = "value", height = 260 } = {}) {
  const all = series.flatMap((s) => s.x);
  if (!all.length) return empty(container, "No feasible completed trials yet.");
  const type = valueAxis(all, log);
  const xs = type === "log" ? all.filter(positive) : all;
  const f = frame(container, {
    height,
    x: { type, domain: padded(extent(xs), type), label: label + (type === "log" ? " (log)" : "") },
    y: { domain: [0, 1.02], label: "fraction of trials ≤ value" },
  });
  for (const s of series) {
    const x = [s.x[0], ...s.x], y = [0, ...s.y];
    line(f, x, y, { stroke: s.color, "stroke-width": 2, class: "edf-line" }, true);
    for (let i = 0; i < s.x.length; i += Math.max(1, Math.floor(s.x.length / 60))) {
      f.points.push({ px: f.x(s.x[i]), py: f.y(s.y[i]), text: `${s.label}: ${(s.y[i] * 100).toFixed(1)}% ≤ ${fmt(s.x[i], 6)}` });
    }
  }
  if (series.length > 1) legend(container, series.map((s) => ({ label: s.label, color: s.color })));
}

/** Best-so-far lines of several studies on one plot: [{label, color, history}]. */
export function compareHistory(container, series, { log = false, height = 320 } = {}) {
  const vals = series.flatMap((s) => s.history.best_values.concat(s.history.values));
  if (!vals.length) return empty(container, "No completed trials yet.");
  const type = valueAxis(vals, log);
  const ys = type === "log" ? vals.filter(positive) : vals;
  const maxN = Math.max(...series.map((s) => s.history.total), 1);
  const f = frame(container, {
    height,
    x: { domain: [0, maxN * 1.02], label: "completed trials (in order)", integer: true },
    y: { type, domain: padded(extent(ys), type), label: "value" + (type === "log" ? " (log)" : "") },
  });
  for (const s of series) {
    const h = s.history;
    // x is the trial's rank among completed trials; ids are sparse so map through positions
    const rank = rankOf(h);
    h.ids.forEach((id, i) => {
      dot(f, rank(id), h.values[i], { r: 1.8, fill: s.color, "fill-opacity": 0.25, stroke: "none" });
    });
    const xs = h.best_ids.map(rank).concat([h.total]);
    const bv = h.best_values.concat(h.best_values.length ? [h.best_values[h.best_values.length - 1]] : []);
    line(f, xs, bv, { stroke: s.color, "stroke-width": 2.2, class: "best" }, true);
    h.best_ids.forEach((id, i) => f.points.push({ px: f.x(rank(id)), py: f.y(h.best_values[i]), text: `${s.label}: best ${fmt(h.best_values[i], 6)} at trial ${id}` }));
  }
  legend(container, series.map((s) => ({ label: s.label, color: s.color })));
}

function rankOf(h) {
  // interpolate the rank of a trial id from the shown ids (exact where the sample is complete)
  const ids = h.ids, n = ids.length, total = h.total;
  return (id) => {
    let lo = 0, hi = n - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (ids[mid] < id) lo = mid + 1; else hi = mid;
    }
    return n <= 1 ? 1 : 1 + (lo / (n - 1)) * (total - 1);
  };
}

function paramAxis(p, values) {
  if (p.type === "categorical") {
    const k = p.choices.length;
    return { type: "linear", domain: [-0.5, k - 0.5], ticks: p.choices.map((c, i) => ({ v: i, label: c })) };
  }
  if (p.log) return { type: "log", domain: padded([p.low, p.high], "log", 0.02) };
  const ext = extent(values) || [p.low, p.high];
  return { type: "linear", domain: padded([Math.min(ext[0], p.low), Math.max(ext[1], p.high)], "linear", 0.03) };
}

function paramText(p, v) {
  if (v === null || v === undefined) return "inactive";
  return p.type === "categorical" ? p.choices[v] : fmt(v, 6);
}

/** Parallel coordinates: one axis per parameter and the objective, lines coloured by value. */
export function parallel(container, d, { height = 340 } = {}) {
  if (!d.ids.length) return empty(container, "No completed trials yet.");
  container.replaceChildren();
  container.classList.add("plot");
  const axes = d.params.map((p) => ({ name: p.name, p, values: d.columns[p.name] }));
  axes.push({ name: d.objective, p: null, values: d.values });
  const width = Math.max(container.clientWidth, 120 * Math.min(axes.length, 4), 320);
  const m = { l: 40, r: 60, t: 28, b: 28 };
  const svg = el("svg", { width, height, viewBox: `0 0 ${width} ${height}`, class: "chart parallel" });
  const step = (width - m.l - m.r) / Math.max(1, axes.length - 1);
  const scales = axes.map((a, i) => {
    const spec = a.p ? paramAxis(a.p, a.values) : { type: "linear", domain: padded(extent(a.values), "linear", 0.02) };
    const s = scale(spec.type, spec.domain, [height - m.b, m.t]);
    s.x = m.l + i * step;
    s.ticks2 = spec.ticks || s.ticks(6).map((v) => ({ v, label: fmt(v, 3) }));
    return s;
  });
  const color = valueColor(d.values, d.direction);
  // worst first, so the best lines are drawn on top
  const sign = d.direction === "maximize" ? 1 : -1;
  const score = (i) => (d.values[i] === null ? -Infinity : sign * d.values[i]);
  const order = d.values.map((v, i) => i).sort((a, b) => (score(a) < score(b) ? -1 : score(a) > score(b) ? 1 : 0));
  const lines = el("g", { class: "lines" }, svg);
  for (const i of order) {
    let path = "";
    axes.forEach((a, k) => {
      const v = a.values[i];
      const py = v === null ? height - m.b + 14 : scales[k](v);
      path += `${k ? "L" : "M"}${scales[k].x.toFixed(1)},${Math.min(height - 4, py).toFixed(1)}`;
    });
    el("path", { d: path, stroke: color(d.values[i]), class: "pc-line" }, lines);
  }
  const axg = el("g", { class: "axes" }, svg);
  axes.forEach((a, k) => {
    const s = scales[k];
    el("line", { x1: s.x, x2: s.x, y1: m.t, y2: height - m.b, class: "pc-axis" }, axg);
    el("text", { x: s.x, y: m.t - 10, "text-anchor": "middle", class: "label" }, axg, a.name);
    if (a.values.some((v) => v === null)) el("text", { x: s.x + 5, y: height - m.b + 18, class: "tick" }, axg, "inactive");
    for (const t of s.ticks2) {
      const py = s(t.v);
      if (!(py >= m.t - 1 && py <= height - m.b + 1)) continue;
      el("line", { x1: s.x - 3, x2: s.x, y1: py, y2: py }, axg);
      el("text", { x: s.x - 5, y: py + 4, "text-anchor": "end", class: "tick" }, axg, t.label);
    }
  });
  container.appendChild(svg);
  note(container, `${d.shown.toLocaleString()} of ${d.total.toLocaleString()} completed trials (the best ${Math.max(1, Math.floor(d.shown / 10))} and an even sample); brighter is better`);
}

/** One small scatter per parameter: parameter value against the objective. */
export function slices(container, d, { log = false } = {}) {
  if (!d.ids.length) return empty(container, "No completed trials yet.");
  container.replaceChildren();
  const grid = html("div", { class: "small-multiples" });
  container.appendChild(grid);
  const type = valueAxis(d.values, log);
  const ys = type === "log" ? d.values.filter(positive) : d.values;
  const ydom = padded(extent(ys), type);
  const idExt = extent(d.ids);
  for (const p of d.params) {
    const cell = html("div", { class: "slice", "data-param": p.name });
    grid.appendChild(cell);
    const xs = d.columns[p.name];
    const ax = paramAxis(p, xs);
    const f = frame(cell, {
      height: 200,
      margin: { l: 50, b: 36 },
      x: { ...ax, label: p.name },
      y: { type, domain: ydom, label: d.objective },
    });
    for (let i = 0; i < d.ids.length; i++) {
      if (xs[i] === null) continue;
      const jitter = p.type === "categorical" ? (((d.ids[i] * 2654435761) % 1000) / 1000 - 0.5) * 0.5 : 0;
      const t = idExt ? (d.ids[i] - idExt[0]) / (idExt[1] - idExt[0] || 1) : 0;
      dot(f, xs[i] + jitter, d.values[i], { r: 2.2, fill: viridis(t), "fill-opacity": 0.75 },
        `trial ${d.ids[i]} · ${p.name} ${paramText(p, xs[i])} · ${fmt(d.values[i], 6)}`);
    }
  }
  note(container, "colour: trial order (dark = early, yellow = late)");
}

/** Mean objective over a grid of two parameters, with the sampled trials on top. */
export function contour(container, d, { height = 360 } = {}) {
  const ax = (a) => a.type === "categorical"
    ? { type: "linear", domain: [-0.5, a.choices.length - 0.5], ticks: a.choices.map((c, i) => ({ v: i, label: c })) }
    : { type: a.log ? "log" : "linear", domain: [a.edges[0], a.edges[a.edges.length - 1]] };
  const flat = d.z.flat().filter((v) => v !== null);
  if (!flat.length) return empty(container, "No feasible completed trials with both parameters yet.");
  const f = frame(container, { height, x: { ...ax(d.x), label: d.x.name }, y: { ...ax(d.y), label: d.y.name } });
  const color = valueColor(flat, d.direction);
  const cells = el("g", { class: "cells" });
  f.plot.appendChild(cells);
  const ex = d.x.edges, ey = d.y.edges;
  for (let r = 0; r < d.z.length; r++) {
    for (let c = 0; c < d.z[r].length; c++) {
      const v = d.z[r][c];
      if (v === null) continue;
      const x0 = f.x(ex[c]), x1 = f.x(ex[c + 1]), y0 = f.y(ey[r + 1]), y1 = f.y(ey[r]);
      el("rect", { x: Math.min(x0, x1), y: Math.min(y0, y1), width: Math.abs(x1 - x0) + 0.5, height: Math.abs(y1 - y0) + 0.5, fill: color(v), class: "cell" }, cells);
      f.points.push({ px: (x0 + x1) / 2, py: (y0 + y1) / 2, text: `mean ${d.objective} ${fmt(v, 5)} over ${d.count[r][c]} trials` });
    }
  }
  const pts = d.points;
  for (let i = 0; i < pts.x.length; i++) {
    dot(f, pts.x[i], pts.y[i], { r: 1.6, fill: "#fff", stroke: "#1d2330", "stroke-width": 0.5, "fill-opacity": 0.9 });
  }
  note(container, `cell colour: mean ${d.objective} of the feasible trials in it (brighter is better); dots: a sample of trials`);
}

/** Two objectives against each other; the non-dominated front highlighted and joined. */
export function pareto(container, d, { xi = 0, yi = 1, height = 340 } = {}) {
  if (!d.ids.length) return empty(container, "No feasible completed trials yet.");
  const X = d.values[xi], Y = d.values[yi], ox = d.objectives[xi], oy = d.objectives[yi];
  const f = frame(container, {
    height,
    x: { domain: padded(extent(X), "linear"), label: `${ox.name} (${ox.direction})` },
    y: { domain: padded(extent(Y), "linear"), label: `${oy.name} (${oy.direction})` },
  });
  const front = [];
  for (let i = 0; i < d.ids.length; i++) {
    const on = d.front[i] === 1;
    if (on) front.push(i);
    dot(f, X[i], Y[i], { r: on ? 4 : 2.4, fill: on ? "#d64550" : "#9aa3b5", "fill-opacity": on ? 0.95 : 0.45, class: on ? "front" : "pt" },
      `trial ${d.ids[i]} · ${ox.name} ${fmt(X[i], 6)} · ${oy.name} ${fmt(Y[i], 6)}${on ? " · on the front" : ""}`);
  }
  if (d.objectives.length === 2 && front.length > 1) {
    front.sort((a, b) => X[a] - X[b]);
    line(f, front.map((i) => X[i]), front.map((i) => Y[i]), { stroke: "#d64550", "stroke-width": 1.2, "stroke-dasharray": "4 3" });
  }
  legend(container, [{ label: `Pareto front (${d.front_size.toLocaleString()} trials)`, color: "#d64550" }, { label: "dominated", color: "#9aa3b5" }]);
  note(container, d.ids.length < d.total ? `${d.ids.length.toLocaleString()} of ${d.total.toLocaleString()} feasible trials shown (the front first)` : null);
}

/** Hypervolume of the feasible front after each trial: a staircase through the trials that raised it. */
export function hypervolume(container, d, { height = 300 } = {}) {
  if (!d.ids.length) {
    return empty(container, d.feasible ? "No feasible trial beats the reference point yet." : "No feasible completed trials yet.");
  }
  const last = d.values[d.values.length - 1];
  const xs = d.ids.concat([Math.max(d.last_id ?? 0, d.ids[d.ids.length - 1])]);
  const ys = d.values.concat([last]);
  const top = Math.max(...ys.filter((v) => v !== null), 0);
  const f = frame(container, {
    height,
    x: { domain: padded([d.ids[0], xs[xs.length - 1]], "linear", 0.02), label: "trial id", integer: true },
    y: { domain: [0, top > 0 ? top * 1.05 : 1], label: "hypervolume" },
  });
  line(f, xs, ys, { stroke: "#3b6fd8", "stroke-width": 2, class: "hv-line" }, true);
  for (let i = 0; i < d.ids.length; i++) {
    dot(f, d.ids[i], d.values[i], { r: 2.6, fill: "#3b6fd8", class: "hv-pt" }, `trial ${d.ids[i]} · hypervolume ${fmt(d.values[i], 6)}`);
  }
  const ref = d.objectives.map((o, k) => `${o.name} ${fmt(d.reference_point[k], 4)} (${d.reference_sources[k]})`).join(", ");
  const how = d.method === "exact" ? "exact" : `estimated from ${d.samples.toLocaleString()} samples`;
  note(container, `reference point: ${ref}; ${how}; ${d.entries.toLocaleString()} of ${d.feasible.toLocaleString()} feasible trials raised it` +
    (d.ids.length < d.entries ? ` (${d.ids.length.toLocaleString()} shown)` : ""));
}

/** Learning curves: intermediate values per step, coloured by how each trial ended. */
export function curves(container, d, { log = false, height = 300 } = {}) {
  const cs = d.curves.filter((c) => c.steps.length);
  if (!cs.length) return empty(container, "No intermediate values reported yet.");
  const all = cs.flatMap((c) => c.values);
  const type = valueAxis(all, log);
  const f = frame(container, {
    height,
    x: { domain: padded(extent(cs.flatMap((c) => c.steps)), "linear", 0.02), label: "step", integer: true },
    y: { type, domain: padded(extent(type === "log" ? all.filter(positive) : all), type), label: d.metric },
  });
  for (const c of cs) {
    const color = STATE_COLORS[c.state] || "#6f7a8a";
    line(f, c.steps, c.values, { stroke: color, "stroke-width": 1.4, "stroke-opacity": 0.8, class: "curve" });
    const last = c.steps.length - 1;
    dot(f, c.steps[last], c.values[last], { r: 2.2, fill: color }, `trial ${c.id} (${c.state}) · step ${c.steps[last]} · ${fmt(c.values[last], 6)}`);
  }
  const states = [...new Set(cs.map((c) => c.state))];
  legend(container, states.map((s) => ({ label: s, color: STATE_COLORS[s] || "#6f7a8a" })));
}

/** Horizontal bars: [{label, value, color?, text?}] with value in [0, max]. */
export function bars(container, items, { max = null, format = (v) => fmt(v, 3) } = {}) {
  if (!items.length) return empty(container, "Nothing to show yet.");
  const top = max ?? Math.max(...items.map((i) => i.value), 1e-12);
  const list = html("div", { class: "bars" });
  for (const it of items) {
    list.appendChild(html("div", { class: "bar-row", "data-name": it.label },
      html("span", { class: "bar-label", title: it.label }, it.label),
      html("span", { class: "bar-track" }, html("span", { class: "bar", style: `width:${(100 * it.value / top).toFixed(1)}%;background:${it.color || "#3b6fd8"}` })),
      html("span", { class: "bar-value" }, it.text ?? format(it.value))));
  }
  container.replaceChildren(list);
}

/** Trials per evaluator over time: a lane each (rows for overlapping trials), coloured by outcome. */
export function timeline(container, d) {
  const t = d.trials;
  if (!t.id.length) return empty(container, "No trials yet.");
  const ends = t.end.map((e) => e ?? d.now);
  const { row, lanes, total } = pack(t, ends, d.evaluators.length);
  const rowH = total > 40 ? 8 : 14;
  const h = 56 + total * (rowH + 3) + lanes.length * 6;
  const lo = Math.min(...t.start), hi = Math.max(...ends);
  const f = frame(container, {
    height: Math.max(120, h),
    margin: { l: Math.min(160, 14 + 7 * Math.max(...d.evaluators.map((e) => e.length))), b: 40, t: 8 },
    x: { domain: [lo, hi + (hi - lo) * 0.01 || lo + 1], ticks: timeTicks(lo, hi), label: "time" },
    y: { domain: [total, 0], ticks: lanes.map((l, i) => ({ v: l.top + l.rows / 2, label: d.evaluators[i] })) },
  });
  lanes.forEach((l, i) => {
    if (i % 2) el("rect", { x: f.m.l, y: f.y(l.top), width: f.width - f.m.l - f.m.r, height: f.y(l.top + l.rows) - f.y(l.top), class: "lane" }, f.plot);
  });
  const band = Math.max(2, (f.y(1) - f.y(0)) * 0.8);
  for (let i = 0; i < t.id.length; i++) {
    const x0 = f.x(t.start[i]), x1 = f.x(ends[i]);
    const yc = f.y(lanes[t.evaluator[i]].top + row[i] + 0.5);
    const color = STATE_COLORS[t.state[i]] || "#6f7a8a";
    el("rect", {
      x: x0, y: yc - band / 2, width: Math.max(1.5, x1 - x0), height: band, fill: color, rx: 1.5,
      "fill-opacity": t.end[i] === null ? 0.45 : 0.85, class: `span ${t.state[i]}`,
    }, f.plot);
    const dur = ends[i] - t.start[i];
    f.points.push({ px: (x0 + x1) / 2, py: yc, text: `trial ${t.id[i]} · ${t.state[i]} · ${t.strategy[i] || "?"} · ${fmtSeconds(dur)}${t.end[i] === null ? " so far" : ""}` });
  }
  const states = [...new Set(t.state)];
  legend(container, states.map((s) => ({ label: s, color: STATE_COLORS[s] || "#6f7a8a" })));
}

/** Rows within each evaluator's lane so that overlapping trials do not hide each other. */
function pack(t, ends, nLanes, maxRows = 12) {
  const row = new Array(t.id.length).fill(0);
  const free = Array.from({ length: nLanes }, () => []);
  const order = t.id.map((_, i) => i).sort((a, b) => t.start[a] - t.start[b]);
  for (const i of order) {
    const rows = free[t.evaluator[i]];
    let r = rows.findIndex((end) => end <= t.start[i]);
    if (r < 0) r = rows.length < maxRows ? rows.length : rows.indexOf(Math.min(...rows));
    rows[r] = ends[i];
    row[i] = r;
  }
  let top = 0;
  const lanes = free.map((rows) => {
    const lane = { top, rows: Math.max(1, rows.length) };
    top += lane.rows;
    return lane;
  });
  return { row, lanes, total: top };
}

function fmtSeconds(s) {
  return s < 120 ? `${s.toFixed(1)} s` : s < 7200 ? `${(s / 60).toFixed(1)} min` : `${(s / 3600).toFixed(1)} h`;
}

function timeTicks(lo, hi) {
  const span = Math.max(hi - lo, 1);
  const steps = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 21600, 43200, 86400];
  const step = steps.find((s) => span / s <= 6) || 86400 * Math.ceil(span / 86400 / 6);
  const out = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi; v += step) {
    const d = new Date(v * 1000);
    const label = step >= 86400 ? d.toLocaleDateString() : d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: step < 60 ? "2-digit" : undefined });
    out.push({ v, label });
  }
  return out;
}
