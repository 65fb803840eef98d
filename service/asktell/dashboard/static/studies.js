// The studies list: state, strategy, trial counts, best value, last activity; filter, sort, live.

import { api, onAuth, query } from "./api.js";
import { STATE_COLORS, fmt, fmtAgo, fmtCount, html } from "./plot.js";
import { Poller } from "./live.js";
import { mountCreate } from "./manage.js";

const $ = (sel) => document.querySelector(sel);
const state = { sort: "id", order: "asc", selected: new Set(), items: [] };

export function mount() {
  const search = $("#studies-search");
  const select = $("#studies-state");
  const heads = [...document.querySelectorAll("#studies thead th[data-sort]")];
  const poller = new Poller(load, 1500);
  const onHead = (e) => {
    const key = e.currentTarget.dataset.sort;
    state.order = state.sort === key && state.order === "asc" ? "desc" : "asc";
    state.sort = key;
    poller.now();
  };
  let typing = 0;
  const onSearch = () => { clearTimeout(typing); typing = setTimeout(() => poller.now(), 200); };
  const onState = () => poller.now();
  const onCompare = () => { location.hash = `#/compare?ids=${[...state.selected].join(",")}`; };
  heads.forEach((h) => h.addEventListener("click", onHead));
  search.addEventListener("input", onSearch);
  select.addEventListener("change", onState);
  $("#compare-selected").addEventListener("click", onCompare);
  const off = onAuth(() => poller.now());
  const unbindCreate = mountCreate();
  poller.start();
  return {
    unmount() {
      poller.stop();
      off();
      unbindCreate();
      heads.forEach((h) => h.removeEventListener("click", onHead));
      search.removeEventListener("input", onSearch);
      select.removeEventListener("change", onState);
      $("#compare-selected").removeEventListener("click", onCompare);
    },
  };
}

async function load() {
  const status = $("#status");
  try {
    const page = await api("/v1/dashboard/studies" + query({
      search: $("#studies-search").value.trim(), state: $("#studies-state").value,
      sort: state.sort, order: state.order,
    }));
    state.items = page.items;
    render(page);
    status.textContent = `${page.total} ${page.total === 1 ? "study" : "studies"} · updated ${new Date().toLocaleTimeString()}`;
    return true;
  } catch (e) {
    status.textContent = e.status === 401 ? "A token is needed to list studies." : `error: ${e.message}`;
    return e.status === 401;
  }
}

function render(page) {
  for (const th of document.querySelectorAll("#studies thead th[data-sort]")) {
    th.classList.toggle("sorted", th.dataset.sort === state.sort);
    th.dataset.order = th.dataset.sort === state.sort ? state.order : "";
  }
  const body = $("#studies tbody");
  if (!page.items.length) {
    body.replaceChildren(html("tr", {}, html("td", { colspan: 9, class: "empty" }, "No studies yet. Create one with New study, the client or POST /v1/studies.")));
  } else {
    body.replaceChildren(...page.items.map(row));
  }
  for (const id of [...state.selected]) if (!page.items.some((s) => s.id === id)) state.selected.delete(id);
  $("#compare-selected").disabled = state.selected.size < 1;
}

function row(s) {
  const check = html("input", { type: "checkbox", "aria-label": `select ${s.name}` });
  check.checked = state.selected.has(s.id);
  check.addEventListener("change", () => {
    if (check.checked) state.selected.add(s.id); else state.selected.delete(s.id);
    $("#compare-selected").disabled = state.selected.size < 1;
  });
  const chips = Object.entries(s.counts).sort().map(([k, n]) =>
    html("span", { class: "chip", title: k, style: `--c:${STATE_COLORS[k] || "#888"}` }, `${k} ${fmtCount(n)}`));
  const tr = html("tr", { "data-study": s.id },
    html("td", { class: "check" }, check),
    html("td", {}, html("a", { href: `#/study/${s.id}`, class: "study-link" }, s.name)),
    html("td", {}, html("span", { class: `badge ${s.state}` }, s.state)),
    html("td", {}, s.strategy || "–"),
    html("td", { class: "num", "data-col": "trials" }, fmtCount(s.trials)),
    html("td", { class: "num", "data-col": "completed" }, fmtCount(s.completed)),
    html("td", { class: "chips" }, chips.length ? chips : "–"),
    html("td", { class: "num", "data-col": "best", title: `${s.objective} (${s.direction})${s.best_trial_id ? ` · trial ${s.best_trial_id}` : ""}` },
      s.best === null ? "–" : `${s.objective}=${fmt(s.best, 5)}`),
    html("td", { title: s.last_activity }, fmtAgo(s.last_activity)));
  tr.addEventListener("dblclick", () => { location.hash = `#/study/${s.id}`; });
  return tr;
}
