// Small SVG plotting primitives: scales, ticks, axes, tooltips, colours. No dependencies.

const NS = "http://www.w3.org/2000/svg";

export const PALETTE = [
  "#3b6fd8", "#e8862a", "#2f9e6e", "#d64550", "#8a5cc9",
  "#9b6a4f", "#d66bb2", "#6f7a8a", "#b5a21c", "#1fa6b8",
];
export const STATE_COLORS = {
  completed: "#2f9e6e", running: "#3b6fd8", pending: "#9aa3b5",
  failed: "#d64550", stopped: "#e8862a", stale: "#b5a21c",
};
const VIRIDIS = ["#440154", "#414487", "#2a788e", "#22a884", "#7ad151", "#fde725"];

export function el(tag, attrs = {}, parent = null, text = null) {
  const node = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) if (v !== undefined && v !== null) node.setAttribute(k, v);
  if (text !== null) node.textContent = text;
  if (parent) parent.appendChild(node);
  return node;
}

export function html(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") node.className = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    node.appendChild(typeof c === "string" || typeof c === "number" ? document.createTextNode(String(c)) : c);
  }
  return node;
}

export function fmt(v, digits = 4) {
  if (v === null || v === undefined || Number.isNaN(v)) return "–";
  if (typeof v !== "number") return String(v);
  const a = Math.abs(v);
  if (a !== 0 && (a >= 1e6 || a < 1e-3)) return v.toExponential(Math.max(0, digits - 2)).replace(/\.?0+e/, "e");
  return String(Number(v.toPrecision(digits)));
}

export function fmtCount(n) {
  return n === null || n === undefined ? "–" : Number(n).toLocaleString("en-US");
}

export function fmtDuration(seconds) {
  if (seconds === null || seconds === undefined || Number.isNaN(seconds)) return "–";
  const s = Math.max(0, seconds);
  if (s < 1) return `${Math.round(s * 1000)} ms`;
  if (s < 90) return `${s.toFixed(s < 10 ? 1 : 0)} s`;
  if (s < 5400) return `${Math.round(s / 60)} min`;
  if (s < 172800) return `${(s / 3600).toFixed(1)} h`;
  return `${Math.round(s / 86400)} d`;
}

export function fmtAgo(iso) {
  if (!iso) return "–";
  return fmtDuration((Date.now() - new Date(iso).getTime()) / 1000) + " ago";
}

export function extent(values) {
  let lo = Infinity, hi = -Infinity;
  for (const v of values) {
    if (v === null || v === undefined || !Number.isFinite(v)) continue;
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  return lo <= hi ? [lo, hi] : null;
}

function niceStep(span, count) {
  const raw = span / Math.max(1, count);
  const mag = 10 ** Math.floor(Math.log10(raw));
  const norm = raw / mag;
  return (norm >= 5 ? 10 : norm >= 2 ? 5 : norm >= 1 ? 2 : 1) * mag;
}

export function linearTicks(lo, hi, count) {
  if (!(hi > lo)) return [lo];
  const step = niceStep(hi - lo, count);
  const out = [];
  for (let t = Math.ceil(lo / step) * step; t <= hi + step * 1e-9; t += step) {
    out.push(Math.abs(t) < step * 1e-9 ? 0 : Number(t.toPrecision(12)));
  }
  return out;
}

export function logTicks(lo, hi, count) {
  const a = Math.floor(Math.log10(lo)), b = Math.ceil(Math.log10(hi));
  let out = [];
  const every = Math.max(1, Math.ceil((b - a) / Math.max(1, count)));
  for (let e = a; e <= b; e += every) out.push(10 ** e);
  if (b - a <= 2) {
    out = [];
    for (let e = a; e <= b; e++) for (const m of [1, 2, 5]) out.push(m * 10 ** e);
  }
  return out.filter((t) => t >= lo * (1 - 1e-9) && t <= hi * (1 + 1e-9));
}

/** A scale from data to pixels: type 'linear' or 'log'. */
export function scale(type, domain, range) {
  let [d0, d1] = domain;
  const log = type === "log";
  if (log) {
    d0 = Math.max(d0, 1e-300);
    d1 = Math.max(d1, d0 * 10);
  } else if (d0 === d1) {
    const pad = Math.abs(d0) * 0.1 || 1;
    d0 -= pad;
    d1 += pad;
  }
  const f = log ? Math.log10 : (v) => v;
  const a = f(d0), b = f(d1);
  const s = (v) => range[0] + ((f(v) - a) / (b - a)) * (range[1] - range[0]);
  s.ticks = (n) => (log ? logTicks(d0, d1, n) : linearTicks(d0, d1, n));
  s.domain = [d0, d1];
  s.range = range;
  s.type = type;
  return s;
}

/** Pad a numeric extent for display (5% on each side; multiplicative on log axes). */
export function padded(ext, type, frac = 0.05) {
  if (!ext) return type === "log" ? [1, 10] : [0, 1];
  let [lo, hi] = ext;
  if (type === "log") {
    const a = Math.log10(lo), b = Math.log10(hi), p = (b - a) * frac || 0.5;
    return [10 ** (a - p), 10 ** (b + p)];
  }
  const p = (hi - lo) * frac || Math.abs(lo) * 0.1 || 1;
  return [lo - p, hi + p];
}

export function viridis(t) {
  if (!Number.isFinite(t)) return "#c5cad3";
  const x = Math.min(1, Math.max(0, t)) * (VIRIDIS.length - 1);
  const i = Math.min(VIRIDIS.length - 2, Math.floor(x));
  return mix(VIRIDIS[i], VIRIDIS[i + 1], x - i);
}

function mix(a, b, t) {
  const pa = [1, 3, 5].map((i) => parseInt(a.slice(i, i + 2), 16));
  const pb = [1, 3, 5].map((i) => parseInt(b.slice(i, i + 2), 16));
  return "#" + pa.map((v, i) => Math.round(v + (pb[i] - v) * t).toString(16).padStart(2, "0")).join("");
}

/** Colour by objective value where better is brighter (yellow), worse darker. */
export function valueColor(values, direction) {
  const ext = extent(values);
  if (!ext) return () => viridis(NaN);
  const [lo, hi] = ext;
  const span = hi - lo || 1;
  return (v) => {
    if (v === null || !Number.isFinite(v)) return viridis(NaN);
    const t = (v - lo) / span;
    return viridis(direction === "maximize" ? t : 1 - t);
  };
}

/**
 * Draw an empty chart with grid and axes into `container`; returns scales and layers.
 * opts: {height, x: {type, domain, label, ticks?}, y: {...}, margin}
 * A custom `ticks` is a list of {v, label}.
 */
export function frame(container, opts) {
  container.replaceChildren();
  container.classList.add("plot");
  const width = Math.max(container.clientWidth || 0, 220);
  const height = opts.height || 280;
  const m = { l: 58, r: 14, t: 12, b: 40, ...(opts.margin || {}) };
  const svg = el("svg", { width, height, viewBox: `0 0 ${width} ${height}`, class: "chart", role: "img" });
  if (opts.title) el("title", {}, svg, opts.title);
  const x = scale(opts.x.type || "linear", opts.x.domain, [m.l, width - m.r]);
  const y = scale(opts.y.type || "linear", opts.y.domain, [height - m.b, m.t]);
  const grid = el("g", { class: "grid" }, svg);
  const axes = el("g", { class: "axes" }, svg);
  const xt = (opts.x.ticks || x.ticks(Math.max(2, Math.floor((width - m.l - m.r) / 90))).map((v) => ({ v, label: fmt(v, 3) })))
    .filter((t) => !opts.x.integer || Number.isInteger(t.v));
  const yt = opts.y.ticks || y.ticks(Math.max(2, Math.floor((height - m.t - m.b) / 45))).map((v) => ({ v, label: fmt(v, 3) }));
  for (const t of xt) {
    const px = x(t.v);
    if (!(px >= m.l - 0.5 && px <= width - m.r + 0.5)) continue;
    el("line", { x1: px, x2: px, y1: m.t, y2: height - m.b }, grid);
    el("text", { x: px, y: height - m.b + 15, "text-anchor": "middle" }, axes, t.label);
  }
  for (const t of yt) {
    const py = y(t.v);
    if (!(py >= m.t - 0.5 && py <= height - m.b + 0.5)) continue;
    el("line", { x1: m.l, x2: width - m.r, y1: py, y2: py }, grid);
    el("text", { x: m.l - 6, y: py + 4, "text-anchor": "end" }, axes, t.label);
  }
  el("rect", { x: m.l, y: m.t, width: width - m.l - m.r, height: height - m.t - m.b, class: "box" }, axes);
  if (opts.x.label) el("text", { x: (m.l + width - m.r) / 2, y: height - 6, "text-anchor": "middle", class: "label" }, axes, opts.x.label);
  if (opts.y.label) {
    el("text", { x: 0, y: 0, transform: `translate(13 ${(m.t + height - m.b) / 2}) rotate(-90)`, "text-anchor": "middle", class: "label" }, axes, opts.y.label);
  }
  const clipId = "clip" + Math.random().toString(36).slice(2, 9);
  const defs = el("defs", {}, svg);
  const clip = el("clipPath", { id: clipId }, defs);
  el("rect", { x: m.l, y: m.t, width: width - m.l - m.r, height: height - m.t - m.b }, clip);
  const plot = el("g", { "clip-path": `url(#${clipId})`, class: "layer" }, svg);
  container.appendChild(svg);
  const f = { svg, x, y, plot, width, height, m, container, points: [] };
  hover(f);
  return f;
}

/** Nearest-point tooltips: push {px, py, text} into frame.points. */
function hover(f) {
  const tip = document.createElement("div");
  tip.className = "tip";
  tip.hidden = true;
  f.container.appendChild(tip);
  const move = (ev) => {
    const r = f.svg.getBoundingClientRect();
    const mx = ev.clientX - r.left, my = ev.clientY - r.top;
    let best = null, bd = 144;
    for (const p of f.points) {
      const d = (p.px - mx) ** 2 + (p.py - my) ** 2;
      if (d < bd) { bd = d; best = p; }
    }
    if (!best) { tip.hidden = true; return; }
    tip.textContent = best.text;
    tip.hidden = false;
    const left = Math.min(best.px + 12, f.width - tip.offsetWidth - 4);
    tip.style.left = `${Math.max(0, left)}px`;
    tip.style.top = `${Math.max(0, best.py - tip.offsetHeight - 8)}px`;
  };
  f.svg.addEventListener("mousemove", move);
  f.svg.addEventListener("mouseleave", () => { tip.hidden = true; });
}

export function dot(f, x, y, attrs, text) {
  const px = f.x(x), py = f.y(y);
  if (!Number.isFinite(px) || !Number.isFinite(py)) return null;
  const node = el("circle", { cx: px.toFixed(1), cy: py.toFixed(1), r: 3, ...attrs }, f.plot);
  if (text) f.points.push({ px, py, text });
  return node;
}

/** A polyline through finite points; `step` draws a staircase (value holds until the next x). */
export function line(f, xs, ys, attrs, step = false) {
  let d = "";
  let open = false;
  for (let i = 0; i < xs.length; i++) {
    const px = f.x(xs[i]), py = f.y(ys[i]);
    if (!Number.isFinite(px) || !Number.isFinite(py)) { open = false; continue; }
    if (!open) { d += `M${px.toFixed(1)},${py.toFixed(1)}`; open = true; continue; }
    if (step) d += `H${px.toFixed(1)}`;
    d += `L${px.toFixed(1)},${py.toFixed(1)}`;
  }
  return el("path", { d, fill: "none", ...attrs }, f.plot);
}

export function legend(container, items) {
  const box = html("div", { class: "legend" });
  for (const it of items) {
    box.appendChild(html("span", { class: "key" }, html("i", { style: `background:${it.color}` }), it.label));
  }
  container.appendChild(box);
  return box;
}

export function empty(container, text) {
  container.replaceChildren(html("div", { class: "empty" }, text));
}

const observed = new WeakMap();
const observer = typeof ResizeObserver === "undefined" ? null : new ResizeObserver((entries) => {
  for (const e of entries) {
    const rec = observed.get(e.target);
    if (!rec) continue;
    const w = Math.round(e.contentRect.width);
    if (w === rec.width) continue;
    rec.width = w;
    cancelAnimationFrame(rec.frame);
    rec.frame = requestAnimationFrame(() => rec.draw());
  }
});

/** Draw now and again whenever the container's width changes. */
export function responsive(container, draw) {
  const rec = observed.get(container) || { width: container.clientWidth, frame: 0 };
  rec.draw = draw;
  rec.width = Math.round(container.clientWidth);
  observed.set(container, rec);
  if (observer) observer.observe(container);
  draw();
}
