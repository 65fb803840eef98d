// Entry point: hash routing between the studies list, one study and the comparison, and the token UI.

import { auth, onAuth, refreshAuth, setToken } from "./api.js";
import * as studies from "./studies.js";
import * as study from "./study.js";
import * as compare from "./compare.js";

const $ = (sel) => document.querySelector(sel);
let current = null;

function parse() {
  const hash = location.hash.replace(/^#/, "") || "/";
  const [path, qs] = hash.split("?");
  const params = new URLSearchParams(qs || "");
  const parts = path.split("/").filter(Boolean);
  if (parts[0] === "study" && /^\d+$/.test(parts[1] || "")) {
    return { page: "study", mod: study, args: { id: Number(parts[1]), tab: parts[2] || "overview" } };
  }
  if (parts[0] === "compare") {
    const ids = (params.get("ids") || "").split(",").filter((s) => /^\d+$/.test(s)).map(Number);
    return { page: "compare", mod: compare, args: { ids } };
  }
  return { page: "studies", mod: studies, args: {} };
}

function route() {
  const r = parse();
  if (current && current.page === r.page && current.handle.update) {
    current.handle.update(r.args);
    return;
  }
  if (current) current.handle.unmount();
  for (const s of document.querySelectorAll("main > .page")) s.hidden = s.id !== `page-${r.page}`;
  for (const a of document.querySelectorAll("header.top nav a")) {
    a.classList.toggle("active", a.dataset.nav === (r.page === "study" ? "studies" : r.page));
  }
  current = { page: r.page, handle: r.mod.mount(r.args) };
}

function showAuth() {
  const btn = $("#auth-button");
  const banner = $("#banner");
  if (auth.ok) {
    const mode = auth.openMode && !auth.token ? "open mode" : "token";
    btn.textContent = `${mode} · ${auth.canWrite ? "read & write" : "read-only"}`;
    btn.className = `pill ${auth.canWrite ? "ok" : "ro"}`;
    banner.hidden = true;
  } else {
    btn.textContent = "token needed";
    btn.className = "pill bad";
    const why = auth.error && auth.error.status === 401
      ? (auth.token ? "The saved token was refused." : "This server needs an API token.")
      : `Cannot reach the server (${auth.error ? auth.error.message : "offline"}).`;
    banner.replaceChildren(document.createTextNode(why + " "), tokenLink());
    banner.hidden = false;
  }
  document.body.classList.toggle("read-only", !auth.canWrite);
}

function tokenLink() {
  const a = document.createElement("a");
  a.href = "#";
  a.textContent = "Paste a token";
  a.addEventListener("click", (e) => { e.preventDefault(); openTokenDialog(); });
  return a;
}

function openTokenDialog() {
  const dlg = $("#token-dialog");
  $("#token-input").value = auth.token;
  $("#token-status").textContent = auth.token ? "A token is saved in this browser." : "No token saved.";
  dlg.showModal();
}

function setupTokenDialog() {
  const dlg = $("#token-dialog");
  $("#auth-button").addEventListener("click", openTokenDialog);
  dlg.addEventListener("close", async () => {
    if (dlg.returnValue === "save") await setToken($("#token-input").value);
    else if (dlg.returnValue === "clear") await setToken("");
  });
}

function setupLiveIndicator() {
  const live = $("#live");
  window.addEventListener("asktell:tick", (e) => {
    live.classList.toggle("stale", !e.detail.ok);
    live.title = e.detail.ok ? `live · updated ${new Date().toLocaleTimeString()}` : "cannot reach the server";
  });
}

function start() {
  setupTokenDialog();
  setupLiveIndicator();
  onAuth(showAuth);
  refreshAuth();
  window.addEventListener("hashchange", route);
  route();
}

start();
