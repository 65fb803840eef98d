// The rank plot: one parameter against another, each trial coloured by its objective's rank.

import { dot, el, empty, extent, fmt, frame, html, padded, viridis } from "./plot.js";

function axis(p, values) {
  if (p.type === "categorical") {
    return { type: "linear", domain: [-0.5, p.choices.length - 0.5], ticks: p.choices.map((c, i) => ({ v: i, label: c })) };
  }
  if (p.log) return { type: "log", domain: padded([p.low, p.high], "log", 0.02) };
  const ext = extent(values) || [p.low, p.high];
  return { type: "linear", domain: padded([Math.min(ext[0], p.low), Math.max(ext[1], p.high)], "linear", 0.03) };
}

function text(p, v) {
  return p.type === "categorical" ? p.choices[v] : fmt(v, 6);
}

function jitter(p, id) {
  return p.type === "categorical" ? (((id * 2654435761) % 1000) / 1000 - 0.5) * 0.5 : 0;
}

/** Scatter of parameters `x` and `y` from a rank payload; the best trials are bright. */
export function rank(container, d, { x, y, height = 360 } = {}) {
  const px = d.params.find((p) => p.name === x), py = d.params.find((p) => p.name === y);
  if (!d.ids.length) return empty(container, "No completed trials yet.");
  if (!px || !py) return empty(container, "Pick two parameters.");
  const xs = d.columns[x], ys = d.columns[y];
  const f = frame(container, { height, x: { ...axis(px, xs), label: x }, y: { ...axis(py, ys), label: y } });
  // worst first so the best trials are drawn on top; unranked (infeasible) ones below all
  const order = d.ids.map((_, i) => i).sort((a, b) => (d.rank[b] ?? 2) - (d.rank[a] ?? 2));
  for (const i of order) {
    if (xs[i] === null || ys[i] === null) continue;
    const r = d.rank[i];
    dot(f, xs[i] + jitter(px, d.ids[i]), ys[i] + jitter(py, d.ids[i] * 7),
      { r: 3, fill: r === null ? "#c5cad3" : viridis(1 - r), "fill-opacity": 0.85, class: "rank-pt" },
      `trial ${d.ids[i]} · ${x} ${text(px, xs[i])} · ${y} ${text(py, ys[i])} · ${d.objective} ${fmt(d.values[i], 6)}` +
      (r === null ? " · infeasible" : ` · rank ${(r * 100).toFixed(1)}%`));
  }
  colorbar(f);
  container.appendChild(html("div", { class: "note" },
    `colour: rank of ${d.objective} (${d.direction}) among ${d.ranked.toLocaleString()} feasible trials, ` +
    `bright = best; ${d.shown.toLocaleString()} of ${d.total.toLocaleString()} completed trials shown`));
}

function colorbar(f) {
  const w = 10, h = 90, x0 = f.width - f.m.r - w - 6, y0 = f.m.t + 6;
  const g = el("g", { class: "colorbar" }, f.svg);
  for (let k = 0; k < 18; k++) {
    el("rect", { x: x0, y: y0 + (k * h) / 18, width: w, height: h / 18 + 0.5, fill: viridis(1 - k / 17) }, g);
  }
  el("text", { x: x0 - 3, y: y0 + 8, "text-anchor": "end" }, g, "best");
  el("text", { x: x0 - 3, y: y0 + h, "text-anchor": "end" }, g, "worst");
}
