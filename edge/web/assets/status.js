// Store status page: first paint from the JSON API, then live `summary` events (read-only).
// The core draws the daemon status and devices; each running job's panel script (listed in the page by the
// server) calls storeEdge.panel({load, live, refresh}) to add its own cards.
"use strict";
const $ = (sel, root = document) => root.querySelector(sel);
const esc = (s) => String(s ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
const panels = [];
let updates = 0;

async function api(path) {
  const r = await fetch(path, { credentials: "same-origin" });
  if (!r.ok) throw new Error(`${path}: ${r.status}`);
  return r.json();
}

function pill(el, text, cls) { el.textContent = text; el.className = "pill " + cls; }

// What a job's panel script may use: helpers, and `panel` to register {load(): Promise, live(summary), refresh()}.
window.storeEdge = {
  $, esc, api, pill,
  panel(p) { panels.push(p); },
  card(id, title, html, wide = false) {  // a card in the grid, in registration order
    const section = document.createElement("section");
    section.className = "card"; section.id = id; section.innerHTML = `<h2>${title}</h2>${html}`;
    if (wide) section.style.gridColumn = "1 / -1";
    $("#panels").appendChild(section);
    return section;
  },
};

function showStatus(s) {
  $("#store").textContent = s.store_id;
  pill($("#link"), "link: " + s.link.state, s.link.state === "connected" ? "ok" : "bad");
  const synced = s.link.last_sync || "";
  pill($("#outbox"), `outbox ${s.link.outbox_depth}` + (synced ? ` · ${synced}` : ""), s.link.outbox_depth > 1000 ? "warn" : "");
  const rows = [];
  for (const [name, c] of Object.entries(s.components)) {
    rows.push(`<tr data-component="${esc(name)}"><th>${esc(name)}</th><td><span class="pill ${c.healthy ? "ok" : "bad"}">${c.healthy ? "ok" : "unhealthy"}</span></td><td class="muted">restarts ${c.restarts}${c.last_crash ? " · " + esc(c.last_crash) : ""}</td></tr>`);
    const detail = c.detail && typeof c.detail === "object" ? c.detail : {};
    for (const [key, value] of Object.entries(detail)) {
      if (!value || typeof value !== "object") continue;
      const items = Object.values(value);
      const devices = items.length > 0 && items.every((d) => d && typeof d === "object" && ("healthy" in d || "state" in d || "phase" in d));
      if (devices) {  // a job's devices (e.g. scales, screens): one row each
        for (const [id, d] of Object.entries(value)) {
          const ok = d && d.healthy !== false && d.state !== "down";
          rows.push(`<tr data-device="${esc(id)}"><td></td><td>${esc(id)}</td><td><span class="pill ${ok ? "ok" : "bad"}">${esc(d && (d.phase || d.state) || (ok ? "ok" : "fault"))}</span></td></tr>`);
        }
      } else {  // flat figures such as push progress: "queued 0 · done 306"
        const figures = Object.entries(value).filter(([, v]) => v === null || typeof v !== "object").map(([k, v]) => `${esc(k)} ${esc(v ?? "—")}`);
        if (figures.length) rows.push(`<tr><td></td><td>${esc(key)}</td><td class="muted">${figures.join(" · ")}</td></tr>`);
      }
    }
  }
  $("#components tbody").innerHTML = rows.join("");
}

async function load() {
  showStatus(await api("/api/status"));
  await Promise.all(panels.map((p) => p.load()));
  document.body.dataset.loaded = "1";
}

function live() {
  const source = new EventSource("/api/events");
  source.addEventListener("open", () => pill($("#live"), "live", "ok"));
  source.addEventListener("error", () => pill($("#live"), "reconnecting…", "off"));  // EventSource retries by itself
  source.addEventListener("summary", (e) => {
    const d = JSON.parse(e.data);
    showStatus(d.status);
    for (const p of panels) p.live(d);
    document.body.dataset.updates = String(++updates);
  });
}

// Panel scripts come after this one; start once they have all registered.
document.addEventListener("DOMContentLoaded", () => {
  load().then(live, (err) => { document.body.dataset.error = err.message; $("#store").textContent = err.message; });
  setInterval(() => { for (const p of panels) if (p.refresh) p.refresh(); }, 300000);
});
