// Creating a study (the "New study" form, with the server's field errors shown inline) and
// deleting one (after typing its name). Both need a token with write rights.

import { api, auth, onAuth } from "./api.js";
import { html } from "./plot.js";

const $ = (sel) => document.querySelector(sel);
const EXAMPLE_SPACE = [
  { name: "x", type: "float", low: -5, high: 5 },
  { name: "lr", type: "float", low: 1e-5, high: 0.1, log: true },
  { name: "layers", type: "int", low: 1, high: 8 },
  { name: "opt", type: "categorical", choices: ["adam", "sgd"] },
];
const SECTIONS = ["name", "space", "objectives", "strategy"];
let strategies = null;

/** Bind the studies page's "New study" button; returns the unbinding function. */
export function mountCreate() {
  const button = $("#new-study");
  const form = $("#create-form");
  const sync = () => {
    button.disabled = !auth.canWrite;
    button.title = auth.canWrite ? "" : "read-only: paste a token with write rights";
  };
  const onSubmit = (e) => { e.preventDefault(); submitCreate(); };
  const onCancel = () => $("#create-dialog").close();
  const onAdd = () => $("#create-objectives").appendChild(objectiveRow({ name: "", direction: "minimize" }));
  button.addEventListener("click", openCreate);
  form.addEventListener("submit", onSubmit);
  form.querySelector("[data-create-cancel]").addEventListener("click", onCancel);
  $("#create-add-objective").addEventListener("click", onAdd);
  const off = onAuth(sync);
  sync();
  return () => {
    off();
    button.removeEventListener("click", openCreate);
    form.removeEventListener("submit", onSubmit);
    form.querySelector("[data-create-cancel]").removeEventListener("click", onCancel);
    $("#create-add-objective").removeEventListener("click", onAdd);
  };
}

function objectiveRow(o) {
  const name = html("input", { "data-objective-name": "", value: o.name, placeholder: "value", "aria-label": "Objective name", autocomplete: "off" });
  const direction = html("select", { "data-objective-direction": "", "aria-label": "Direction" },
    html("option", { value: "minimize" }, "minimize"), html("option", { value: "maximize" }, "maximize"));
  direction.value = o.direction;
  const threshold = html("input", { "data-objective-threshold": "", type: "number", step: "any", placeholder: "threshold (optional)", "aria-label": "Threshold" });
  const remove = html("button", { type: "button", class: "small", title: "Remove this objective" }, "×");
  const row = html("div", { class: "objective-row" }, name, direction, threshold, remove);
  remove.addEventListener("click", () => { if ($("#create-objectives").children.length > 1) row.remove(); });
  return row;
}

async function openCreate() {
  clearErrors();
  $("#create-name").value = "";
  $("#create-space").value = JSON.stringify(EXAMPLE_SPACE, null, 2);
  $("#create-objectives").replaceChildren(objectiveRow({ name: "value", direction: "minimize" }));
  const select = $("#create-strategy");
  select.replaceChildren(html("option", { value: "auto" }, "auto"));
  $("#create-dialog").showModal();
  $("#create-name").focus();
  try {
    strategies = strategies || (await api("/v1/strategies"));
    select.replaceChildren(...strategies.map((s) => html("option", { value: s.name, title: s.description || "" }, s.name)));
    select.value = strategies.some((s) => s.name === "auto") ? "auto" : strategies[0]?.name;
  } catch { /* the server names a wrong strategy when the study is created */ }
}

function clearErrors() {
  for (const el of document.querySelectorAll("#create-form .field-error")) { el.hidden = true; el.textContent = ""; }
  for (const el of document.querySelectorAll("#create-form .invalid")) el.classList.remove("invalid");
  $("#create-error").hidden = true;
}

/** Show an error next to the form section its field belongs to (`space[0].low` → parameters). */
function showError(field, message) {
  const path = field || "";
  const section = SECTIONS.find((s) => path === s || path.startsWith(`${s}.`) || path.startsWith(`${s}[`));
  if (!section) {
    $("#create-error").textContent = path && path !== "body" ? `${path}: ${message}` : message;
    $("#create-error").hidden = false;
    return;
  }
  const box = document.querySelector(`#create-form [data-error-for=${section}]`);
  box.textContent = path === section ? message : `${path}: ${message}`;
  box.hidden = false;
  const row = /^objectives\[(\d+)\]/.exec(path);
  const target = row
    ? $("#create-objectives").children[Number(row[1])]?.querySelector("input")
    : document.querySelector(`#create-form [data-field=${section}] :is(input, textarea, select)`);
  if (target) { target.classList.add("invalid"); target.focus(); }
}

function readForm() {
  let space;
  try {
    space = JSON.parse($("#create-space").value);
  } catch (e) {
    return { error: ["space", `not valid JSON: ${e.message}`] };
  }
  const objectives = [...$("#create-objectives").children].map((row) => {
    const o = {
      name: row.querySelector("[data-objective-name]").value.trim(),
      direction: row.querySelector("[data-objective-direction]").value,
    };
    const threshold = row.querySelector("[data-objective-threshold]").value;
    if (threshold !== "") o.threshold = Number(threshold);
    return o;
  });
  return {
    body: { name: $("#create-name").value.trim(), space, objectives, strategy: { name: $("#create-strategy").value || "auto" } },
  };
}

async function submitCreate() {
  clearErrors();
  const { body, error } = readForm();
  if (error) return showError(...error);
  const submit = document.querySelector("#create-form [data-create-submit]");
  submit.disabled = true;
  try {
    const study = await api("/v1/studies", { method: "POST", body });
    $("#create-dialog").close();
    location.hash = `#/study/${study.id}`;
  } catch (e) {
    showError(e.field, e.status === 403 ? "this token may only read" : e.message);
  } finally {
    submit.disabled = false;
  }
}

/** Ask for the study's name, then delete it; `onDeleted` runs once it is gone. */
export function openDelete(study, { onDeleted }) {
  const dlg = $("#delete-dialog");
  const form = $("#delete-form");
  const input = $("#delete-confirm");
  const submit = $("#delete-submit");
  const error = $("#delete-error");
  $("#delete-name").textContent = study.name;
  input.value = "";
  input.placeholder = study.name;
  error.hidden = true;
  submit.disabled = true;
  const onInput = () => { submit.disabled = input.value !== study.name; };
  const onCancel = () => dlg.close();
  const onSubmit = async (e) => {
    e.preventDefault();
    if (input.value !== study.name) return;
    submit.disabled = true;
    try {
      await api(`/v1/studies/${study.id}`, { method: "DELETE" });
      dlg.close();
      onDeleted();
    } catch (err) {
      error.textContent = err.status === 403 ? "This token may only read." : `${err.message}${err.field ? ` (${err.field})` : ""}`;
      error.hidden = false;
      submit.disabled = false;
    }
  };
  input.addEventListener("input", onInput);
  form.addEventListener("submit", onSubmit);
  form.querySelector("[data-delete-cancel]").addEventListener("click", onCancel);
  dlg.addEventListener("close", () => {
    input.removeEventListener("input", onInput);
    form.removeEventListener("submit", onSubmit);
    form.querySelector("[data-delete-cancel]").removeEventListener("click", onCancel);
  }, { once: true });
  dlg.showModal();
  input.focus();
}
