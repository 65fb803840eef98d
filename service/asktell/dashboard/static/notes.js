// Notes: a small Markdown subset rendered as DOM nodes (never as HTML), and an editor that
// saves against the version it read, so a concurrent edit is reported instead of lost.

import { api } from "./api.js";
import { fmtAgo, html } from "./plot.js";

const INLINE = /(`[^`\n]+`)|(\*\*[^*\n]+\*\*)|(\*[^*\n]+\*)|(\[[^\]\n]+\]\([^)\s]+\))/g;

/** Text with `code`, **bold**, *emphasis* and [links](url) as nodes; everything else is text. */
function inline(text) {
  const out = [];
  let last = 0;
  for (const m of text.matchAll(INLINE)) {
    if (m.index > last) out.push(text.slice(last, m.index));
    const tok = m[0];
    if (m[1]) out.push(html("code", {}, tok.slice(1, -1)));
    else if (m[2]) out.push(html("strong", {}, tok.slice(2, -2)));
    else if (m[3]) out.push(html("em", {}, tok.slice(1, -1)));
    else out.push(link(tok));
    last = m.index + tok.length;
  }
  if (last < text.length) out.push(text.slice(last));
  return out;
}

/** A link only to http(s) addresses; anything else (javascript:, data:) stays plain text. */
function link(tok) {
  const close = tok.indexOf("](");
  const label = tok.slice(1, close), href = tok.slice(close + 2, -1);
  let url = null;
  try { url = new URL(href, location.href); } catch { url = null; }
  if (!url || !["http:", "https:"].includes(url.protocol)) return tok;
  return html("a", { href: url.href, target: "_blank", rel: "noopener noreferrer" }, label);
}

/** Render a note: headings (#), lists (- or 1.), fenced code, paragraphs. */
export function renderNote(text) {
  const root = html("div", { class: "md" });
  const lines = text.replace(/\r\n?/g, "\n").split("\n");
  let para = [], list = null, code = null;
  const flush = () => {
    if (para.length) root.appendChild(html("p", {}, ...inline(para.join(" "))));
    para = [];
    list = null;
  };
  for (const line of lines) {
    if (code) {
      if (line.trim().startsWith("```")) { root.appendChild(html("pre", {}, code.join("\n"))); code = null; }
      else code.push(line);
      continue;
    }
    if (line.trim().startsWith("```")) { flush(); code = []; continue; }
    const h = /^(#{1,3})\s+(.*)$/.exec(line);
    const li = /^\s*(?:([-*])|(\d+)\.)\s+(.*)$/.exec(line);
    if (h) { flush(); root.appendChild(html(`h${h[1].length + 2}`, {}, ...inline(h[2]))); continue; }
    if (li) {
      if (para.length) flush();
      const tag = li[1] ? "ul" : "ol";
      if (!list || list.tagName.toLowerCase() !== tag) { list = html(tag, {}); root.appendChild(list); }
      list.appendChild(html("li", {}, ...inline(li[3])));
      continue;
    }
    if (!line.trim()) { flush(); continue; }
    list = null;
    para.push(line.trim());
  }
  if (code) root.appendChild(html("pre", {}, code.join("\n")));
  flush();
  return root;
}

/**
 * A note card body: the rendered note with an Edit button; editing shows a textarea with
 * Save and Cancel. `url` is the note's API path; `canWrite()` says whether to offer editing.
 */
export function noteEditor(box, { url, canWrite, label = "note" }) {
  const st = { note: null, editing: false, error: null, busy: false };

  async function load() {
    try {
      st.note = await api(url);
      st.error = null;
    } catch (e) {
      st.error = e;
    }
    if (!st.editing) render();
  }

  function render() {
    if (st.editing) return renderEditor();
    const n = st.note;
    const edit = html("button", { type: "button", class: "small", "data-note-edit": "", disabled: !canWrite(),
      title: canWrite() ? `Edit the ${label}` : "read-only: paste a token with write rights" }, n && n.version ? "Edit" : `Add a ${label}`);
    edit.addEventListener("click", () => { st.editing = true; st.draft = n ? n.body : ""; render(); });
    const meta = n && n.version ? html("span", { class: "muted small" }, `version ${n.version} · saved ${fmtAgo(n.updated_at)}`) : null;
    const view = st.error ? html("div", { class: "error" }, `error: ${st.error.message}`)
      : !n ? html("div", { class: "muted" }, "loading…")
      : n.body.trim() ? renderNote(n.body) : html("div", { class: "muted", "data-note-empty": "" }, `No ${label} yet.`);
    box.replaceChildren(html("div", { class: "note-view", "data-note-version": n ? n.version : "" }, view),
      html("div", { class: "note-bar" }, edit, meta));
  }

  function renderEditor() {
    const area = html("textarea", { class: "note-input", rows: 8, "aria-label": label, spellcheck: "true" });
    area.value = st.draft;
    area.addEventListener("input", () => { st.draft = area.value; });
    const save = html("button", { type: "button", class: "primary small", "data-note-save": "", disabled: st.busy }, "Save");
    const cancel = html("button", { type: "button", class: "small" }, "Cancel");
    const msg = html("span", { class: `small ${st.conflict ? "error" : "muted"}`, "data-note-status": "" },
      st.conflict || "Markdown: # heading, - list, **bold**, *emphasis*, `code`, [text](address)");
    save.addEventListener("click", () => submit());
    cancel.addEventListener("click", () => { st.editing = false; st.conflict = null; load(); });
    box.replaceChildren(area, html("div", { class: "note-bar" }, save, cancel, msg));
    area.focus();
  }

  async function submit() {
    st.busy = true;
    const version = st.note ? st.note.version : 0;
    try {
      st.note = await api(url, { method: "PUT", body: { body: st.draft, version } });
      st.editing = false;
      st.conflict = null;
    } catch (e) {
      if (e.status === 409) {
        const theirs = await api(url).catch(() => null);
        if (theirs) st.note = theirs;
        st.conflict = `Someone saved this ${label} meanwhile (now version ${st.note ? st.note.version : "?"}). ` +
          "Your text is kept: Save again to replace theirs, or Cancel to see it.";
      } else {
        st.conflict = `${e.message}${e.field ? ` (${e.field})` : ""}`;
      }
    } finally {
      st.busy = false;
      render();
    }
  }

  load();
  return {
    reload: () => { if (!st.editing) load(); },
    render: () => { if (!st.editing) render(); },
    get editing() { return st.editing; },
  };
}
