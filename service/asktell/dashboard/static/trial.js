// One trial in a dialog: its parameters and values, a form to tell its result (human in the
// loop), its note and its files.

import { api, auth } from "./api.js";
import { fileList } from "./files.js";
import { noteEditor } from "./notes.js";
import { fmt, fmtAgo, html } from "./plot.js";

const TELLABLE = ["pending", "running", "stale"];
let current = null;

/**
 * Open trial `id` of the study described by `summary`; `notify(text, bad)` reports results
 * and `onChange()` runs after a tell.
 */
export async function openTrial(id, { summary, notify, onChange, focusTell = false }) {
  const dlg = document.getElementById("trial-dialog");
  const body = dlg.querySelector(".trial-body");
  wire(dlg);
  current = { id, summary, notify, onChange };
  dlg.querySelector(".trial-title").textContent = `Trial ${id}`;
  body.replaceChildren(html("div", { class: "muted" }, "loading…"));
  if (!dlg.open) dlg.showModal();
  const mine = current;
  let trial;
  try {
    trial = await api(`/v1/trials/${id}`);
  } catch (e) {
    body.replaceChildren(html("div", { class: "error" }, `error: ${e.message}`));
    return;
  }
  if (mine !== current) return;
  const noteBox = html("div", { class: "trial-note" });
  const filesBox = html("div", { class: "trial-files" });
  body.replaceChildren(...[
    facts(trial, summary),
    TELLABLE.includes(trial.state) ? tellForm(trial, summary) : null,
    html("h3", {}, "Note"), noteBox,
    html("h3", {}, "Files"), filesBox,
  ].filter(Boolean));
  const canWrite = () => auth.canWrite;
  noteEditor(noteBox, { url: `/v1/trials/${id}/note`, canWrite, label: "trial note" });
  fileList(filesBox, { owner: `/v1/trials/${id}`, canWrite, notify });
  if (focusTell) body.querySelector(".tell-form input")?.focus();
}

function facts(t, summary) {
  const metrics = [...summary.objectives.map((o) => o.name), ...summary.constraints.map((c) => c.name)];
  const rows = [
    ["state", html("span", { class: `badge ${t.state}`, "data-trial-state": t.state }, t.state)],
    ...(t.failure_reason ? [["reason", t.failure_reason]] : []),
    ...Object.entries(t.params).map(([k, v]) => [k, paramText(v)]),
    ...metrics.map((m) => [m, t.values && m in t.values ? fmt(t.values[m], 8) : "–"]),
    ["strategy", t.strategy || "–"],
    ["evaluator", t.evaluator || "–"],
    ["created", fmtAgo(t.created_at)],
    ["finished", t.finished_at ? fmtAgo(t.finished_at) : "–"],
  ];
  return html("table", { class: "grid compact kv" }, html("tbody", {}, ...rows.map(([k, v]) =>
    html("tr", {}, html("th", {}, k), html("td", {}, v)))));
}

/** A parameter's value for the table; long arrays are summarised, not dumped. */
function paramText(v) {
  if (typeof v === "number") return fmt(v, 8);
  if (typeof v === "string") return v;
  if (Array.isArray(v)) {
    const head = v.slice(0, 6).map((x) => (typeof x === "number" ? fmt(x, 4) : String(x))).join(", ");
    return v.length > 6 ? `[${head}, …] (${v.length} values)` : `[${head}]`;
  }
  if (v && typeof v === "object" && v.dtype) return `${v.dtype} array (${v.b64 ? "base64" : "block"})`;
  return JSON.stringify(v);
}

/** Values for every objective and constraint, then Complete; or a reason, then Fail. */
function tellForm(t, summary) {
  const metrics = [
    ...summary.objectives.map((o) => ({ name: o.name, hint: o.direction })),
    ...summary.constraints.map((c) => ({ name: c.name, hint: "constraint" })),
  ];
  const inputs = metrics.map((m) => html("input", { name: m.name, type: "text", inputmode: "decimal", required: true,
    "data-tell-value": m.name, autocomplete: "off" }));
  const reason = html("input", { name: "reason", type: "text", placeholder: "reason (to fail it)", "data-tell-reason": "" });
  const error = html("p", { class: "error", hidden: true, "data-tell-error": "" });
  const complete = html("button", { type: "submit", class: "primary", "data-tell": "completed" }, "Complete");
  const fail = html("button", { type: "button", class: "danger", "data-tell": "failed" }, "Fail");
  const write = auth.canWrite;
  for (const el of [...inputs, reason, complete, fail]) el.disabled = !write;
  const form = html("form", { class: "tell-form" },
    html("h3", {}, "Tell the result"),
    ...metrics.map((m, i) => html("label", { class: "field" }, html("span", {}, m.name, html("small", {}, ` ${m.hint}`)), inputs[i])),
    html("label", { class: "field" }, html("span", {}, "or fail it"), reason),
    error,
    html("div", { class: "dialog-buttons" }, write ? null : html("span", { class: "muted small" }, "read-only: paste a token with write rights"),
      html("span", { class: "spacer" }), fail, complete));
  const send = async (req) => {
    error.hidden = true;
    for (const i of inputs) i.classList.remove("invalid");
    try {
      await api(`/v1/trials/${t.id}:tell`, { method: "POST", body: req });
      current.notify(`trial ${t.id} ${req.state}`);
      current.onChange();
      openTrial(t.id, current);
    } catch (e) {
      const field = e.field || "";
      const bad = inputs.find((i) => field === `values.${i.name}` || field.endsWith(`.${i.name}`));
      if (bad) bad.classList.add("invalid");
      error.textContent = `${e.message}${e.field ? ` (${e.field})` : ""}`;
      error.hidden = false;
    }
  };
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const values = {};
    inputs.forEach((i) => { if (i.value.trim() !== "") values[i.name] = parseNumber(i.value); });
    send({ state: "completed", values });
  });
  fail.addEventListener("click", () => send({ state: "failed", reason: reason.value.trim() || "failed from the dashboard" }));
  return form;
}

/** A number as typed ("1e-3", " 2.5 "); anything else goes to the server as text, which
 * answers 422 naming the field. */
function parseNumber(text) {
  const s = text.trim();
  const n = Number(s);
  return s !== "" && Number.isFinite(n) ? n : s;
}

function wire(dlg) {
  if (dlg.dataset.wired) return;
  dlg.dataset.wired = "1";
  dlg.querySelector("[data-close]").addEventListener("click", () => dlg.close());
  dlg.addEventListener("close", () => { current = null; });
}
