// Several studies side by side: best-so-far histories and EDFs on one plot each.

import { api, onAuth, query } from "./api.js";
import * as charts from "./charts.js";
import { Poller } from "./live.js";
import { PALETTE, empty, html, responsive } from "./plot.js";

const $ = (sel) => document.querySelector(sel);
const MAX = 8;
let S = null;

export function mount({ ids }) {
  S = { ids: ids.slice(0, MAX), alive: true, data: null, studies: [], key: "" };
  const poller = new Poller(load, 2000);
  const onLog = () => draw();
  $("#compare-log").addEventListener("change", onLog);
  const off = onAuth(() => poller.now());
  empty($("#compare-history"), "loading…");
  empty($("#compare-edf"), "");
  poller.start();
  return {
    update(args) {
      S.ids = args.ids.slice(0, MAX);
      poller.now();
    },
    unmount() {
      S.alive = false;
      poller.stop();
      off();
      $("#compare-log").removeEventListener("change", onLog);
    },
  };
}

async function load() {
  const list = await api("/v1/dashboard/studies" + query({ sort: "name" }));
  if (!S.alive) return true;
  S.studies = list.items;
  picker();
  if (!S.ids.length) {
    empty($("#compare-history"), "Pick two or more studies above.");
    empty($("#compare-edf"), "");
    S.data = null;
    return true;
  }
  try {
    S.data = await api("/v1/dashboard/compare" + query({ study_id: S.ids }));
  } catch (e) {
    S.data = null;
    empty($("#compare-history"), `error: ${e.message}`);
    empty($("#compare-edf"), "");
    return e.status !== undefined;
  }
  if (S.alive) draw();
  return true;
}

function picker() {
  const key = S.studies.map((s) => s.id).join(",") + "|" + S.ids.join(",");
  if (key === S.key) return;
  S.key = key;
  const box = $("#compare-picker");
  box.replaceChildren(...S.studies.map((s) => {
    const check = html("input", { type: "checkbox", value: String(s.id) });
    check.checked = S.ids.includes(s.id);
    check.disabled = !check.checked && S.ids.length >= MAX;
    check.addEventListener("change", () => {
      const ids = check.checked ? [...S.ids, s.id] : S.ids.filter((i) => i !== s.id);
      location.hash = `#/compare?ids=${ids.join(",")}`;
    });
    return html("label", { class: "pick" }, check, ` ${s.name} `, html("small", { class: "muted" }, `${s.completed} done`));
  }));
  if (!S.studies.length) box.replaceChildren(html("span", { class: "muted" }, "No studies yet."));
}

function draw() {
  if (!S.data) return;
  const log = $("#compare-log").checked;
  const series = S.data.studies.map((s, i) => ({
    label: `${s.name} (${s.history.objective}, ${s.history.direction})`,
    color: PALETTE[i % PALETTE.length],
    history: s.history,
    edf: s.edf,
  }));
  responsive($("#compare-history"), () => charts.compareHistory($("#compare-history"), series, { log }));
  responsive($("#compare-edf"), () => charts.edf($("#compare-edf"), series.map((s) => ({ label: s.label, color: s.color, x: s.edf.x, y: s.edf.y })), { log }));
}
