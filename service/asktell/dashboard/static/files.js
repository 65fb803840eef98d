// Artifacts: the files of a study or trial, with upload, download (with the page's token)
// and delete.

import { ApiError, api, auth } from "./api.js";
import { fmtAgo, fmtCount, html } from "./plot.js";

function headers(extra = {}) {
  const h = { ...extra };
  if (auth.token) h.Authorization = `Bearer ${auth.token}`;
  return h;
}

async function failure(res) {
  let body = null;
  try { body = await res.json(); } catch { body = null; }
  return new ApiError(res.status, body);
}

/** Upload one File as the raw request body. */
export async function uploadFile(url, file) {
  const res = await fetch(`${url}?name=${encodeURIComponent(file.name)}`, {
    method: "POST",
    headers: headers({ Accept: "application/json", "Content-Type": file.type || "application/octet-stream" }),
    body: file,
  });
  if (!res.ok) throw await failure(res);
  return res.json();
}

/** Fetch an artifact with the token and hand it to the browser as a download. */
export async function downloadArtifact(a) {
  const res = await fetch(`/v1/artifacts/${a.id}/content`, { headers: headers(), cache: "no-store" });
  if (!res.ok) throw await failure(res);
  const blob = await res.blob();
  const href = URL.createObjectURL(blob);
  const link = html("a", { href, download: a.name, hidden: true });
  document.body.appendChild(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(href), 10_000);
}

const PREVIEW_TYPES = ["image/png", "image/jpeg", "image/gif", "image/webp"];
const PREVIEW_MAX_BYTES = 4 * 1024 * 1024;
const PREVIEW_MAX_COUNT = 12;
const previews = new Map(); // artifact id → object URL (an artifact never changes)

/** Thumbnails of raster images (fetched with the token, shown from blob URLs). */
function thumbnails(items) {
  const shown = items.filter((a) => PREVIEW_TYPES.includes(a.content_type.split(";")[0].trim()) && a.size <= PREVIEW_MAX_BYTES)
    .slice(-PREVIEW_MAX_COUNT);
  if (!shown.length) return null;
  const strip = html("div", { class: "thumbs" });
  for (const a of shown) {
    const img = html("img", { alt: a.name, title: a.name, "data-preview": a.id, loading: "lazy" });
    strip.appendChild(html("figure", {}, img, html("figcaption", {}, a.name)));
    const known = previews.get(a.id);
    if (known) { img.src = known; continue; }
    fetch(`/v1/artifacts/${a.id}/content`, { headers: headers(), cache: "no-store" })
      .then((res) => (res.ok ? res.blob() : null))
      .then((blob) => {
        if (!blob) return;
        const url = URL.createObjectURL(blob);
        previews.set(a.id, url);
        img.src = url;
      })
      .catch(() => {});
  }
  return strip;
}

export function fmtBytes(n) {
  if (n < 1024) return `${n} B`;
  const units = ["KiB", "MiB", "GiB"];
  let v = n / 1024, i = 0;
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
  return `${v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`;
}

/**
 * The file list of `owner` ("/v1/studies/1" or "/v1/trials/7") in `box`;
 * `canWrite()` decides upload and delete, `notify(text, bad)` reports results.
 */
export function fileList(box, { owner, canWrite, notify }) {
  const st = { items: null, error: null, busy: false };

  async function load() {
    try {
      st.items = (await api(`${owner}/artifacts`)).items;
      st.error = null;
    } catch (e) {
      st.error = e;
    }
    render();
  }

  async function upload(files) {
    st.busy = true;
    render();
    for (const f of files) {
      try {
        await uploadFile(`${owner}/artifacts`, f);
        notify(`uploaded ${f.name}`);
      } catch (e) {
        notify(`${f.name}: ${e.message}${e.field ? ` (${e.field})` : ""}`, true);
      }
    }
    st.busy = false;
    load();
  }

  async function remove(a) {
    if (!confirm(`Delete ${a.name}?`)) return;
    try {
      await api(`/v1/artifacts/${a.id}`, { method: "DELETE" });
      notify(`deleted ${a.name}`);
    } catch (e) {
      notify(e.message, true);
    }
    load();
  }

  function render() {
    const write = canWrite();
    const input = html("input", { type: "file", multiple: true, hidden: true, "data-file-input": "" });
    input.addEventListener("change", () => upload([...input.files]));
    const pick = html("button", { type: "button", class: "small", disabled: !write || st.busy,
      title: write ? "Attach files" : "read-only: paste a token with write rights" }, st.busy ? "Uploading…" : "Upload…");
    pick.addEventListener("click", () => input.click());
    let list;
    if (st.error) list = html("div", { class: "error" }, `error: ${st.error.message}`);
    else if (!st.items) list = html("div", { class: "muted" }, "loading…");
    else if (!st.items.length) list = html("div", { class: "muted small", "data-files-empty": "" }, "No files yet.");
    else {
      list = html("table", { class: "grid compact files" },
        html("thead", {}, html("tr", {}, ...["file", "size", "type", "added", ""].map((h) => html("th", {}, h)))),
        html("tbody", {}, ...st.items.map((a) => {
          const get = html("button", { type: "button", class: "link", title: `sha256 ${a.sha256}` }, a.name);
          get.addEventListener("click", () => downloadArtifact(a).catch((e) => notify(e.message, true)));
          const del = html("button", { type: "button", class: "small danger", disabled: !write }, "Delete");
          del.addEventListener("click", () => remove(a));
          return html("tr", { "data-artifact": a.id },
            html("td", {}, get), html("td", { class: "num" }, fmtBytes(a.size)),
            html("td", { class: "muted" }, a.content_type), html("td", { title: a.created_at }, fmtAgo(a.created_at)),
            html("td", {}, del));
        })));
    }
    const count = st.items ? html("span", { class: "muted small" }, `${fmtCount(st.items.length)} file${st.items.length === 1 ? "" : "s"}`) : null;
    const thumbs = st.items ? thumbnails(st.items) : null;
    box.replaceChildren(...[html("div", { class: "table-wrap" }, list), thumbs,
      html("div", { class: "note-bar" }, pick, input, count)].filter(Boolean));
  }

  load();
  return { reload: load, render };
}
