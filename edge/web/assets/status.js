// Store status page: first paint from the JSON API, then live `summary` events (read-only).
"use strict";
const $ = (sel, root = document) => root.querySelector(sel);
const esc = (s) => String(s ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
const COLORS = { red: "#e53935", green: "#43a047", blue: "#1e88e5", yellow: "#fdd835", cyan: "#00acc1", magenta: "#d81b60", white: "#fff" };
let updates = 0;

async function api(path) {
  const r = await fetch(path, { credentials: "same-origin" });
  if (!r.ok) throw new Error(`${path}: ${r.status}`);
  return r.json();
}

function pill(el, text, cls) { el.textContent = text; el.className = "pill " + cls; }

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
      if (key === "scales" || key === "screens") {  // one row per device
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

function showCounts(counts) {
  const order = ["ok", "pending", "failed", "unbound"];
  $("#labels .counts").innerHTML = order.map((k) => `<span class="pill ${k === "ok" ? "ok" : k === "failed" ? "bad" : ""}" data-state="${k}">${k} <b>${counts[k] || 0}</b></span>`).join(" ");
}

function showLabels(list) {
  $("#labels tbody").innerHTML = list.map((l) => `<tr><td>${esc(l.id)}</td><td>${esc(l.sku)}</td><td>${esc(l.state)}</td><td class="muted">${esc(l.last_error)}</td></tr>`).join("");
}

function showPicks(orders) {
  $("#picks tbody").innerHTML = orders.length ? orders.map((o) => `<tr data-order="${esc(o.order_id)}"><td><span class="swatch" style="background:${COLORS[o.color] || esc(o.color)}"></span> ${esc(o.color)}</td><td>${esc(o.order_id)}</td><td>${o.done}/${o.items}</td></tr>`).join("") : `<tr><td class="muted">—</td></tr>`;
}

function spark(readings, lo, hi) {
  if (readings.length < 2) return "";
  const t0 = readings[0][0], t1 = readings[readings.length - 1][0] || t0 + 1;
  const temps = readings.map((r) => r[1]);
  const min = Math.min(...temps, lo ?? Infinity), max = Math.max(...temps, hi ?? -Infinity);
  const y = (v) => (36 - ((v - min) / ((max - min) || 1)) * 34 - 1).toFixed(1);
  const pts = readings.map((r) => `${(((r[0] - t0) / ((t1 - t0) || 1)) * 150).toFixed(1)},${y(r[1])}`).join(" ");
  const limit = hi == null ? "" : `<line x1="0" x2="150" y1="${y(hi)}" y2="${y(hi)}" stroke="#c62828" stroke-dasharray="3 3" stroke-width="1"/>`;
  return `<svg viewBox="0 0 150 36" preserveAspectRatio="none">${limit}<polyline fill="none" stroke="#1e88e5" stroke-width="1.5" points="${pts}"/></svg>`;
}

function fridgeHtml(s) {
  const alert = s.alert ? ` alert` : "";
  const t = s.last_c == null ? "—" : `${s.last_c.toFixed(1)} °C`;
  return `<div class="fridge${alert}" data-section="${esc(s.id)}"><div>${esc(s.name || s.id)} ${s.alert ? '<span class="pill bad">告警 alert</span>' : ""}</div><div class="t">${t}</div>${spark(s.readings, s.min_c, s.max_c)}</div>`;
}

let sections = new Map();
function showFridges(list) {
  sections = new Map(list.map((s) => [s.id, s]));
  $("#fridges").innerHTML = list.length ? list.map(fridgeHtml).join("") : `<span class="muted">—</span>`;
}

function applyFridgeSummary(f) {
  let redraw = false;
  for (const [id, s] of sections) {
    const alert = f.alerts[id] || null, last = f.latest[id] ?? s.last_c;
    if (Boolean(alert) !== Boolean(s.alert) || last !== s.last_c) { s.alert = alert; s.last_c = last; redraw = true; }
  }
  for (const id of [...Object.keys(f.alerts), ...Object.keys(f.latest)]) {
    if (!sections.has(id)) { sections.set(id, { id, name: "", readings: [], alert: f.alerts[id] || null, last_c: f.latest[id] ?? null }); redraw = true; }
  }
  if (redraw) showFridges([...sections.values()].sort((a, b) => (a.id < b.id ? -1 : 1)));
}

async function load() {
  const [status, labels, fridges, picks] = await Promise.all([
    api("/api/status"), api("/api/labels?state=failed&limit=50"), api("/api/fridges"), api("/api/picks?status=active"),
  ]);
  showStatus(status); showCounts(labels.counts); showLabels(labels.labels); showFridges(fridges.sections); showPicks(picks.orders);
  document.body.dataset.loaded = "1";
  showMap();
}

function showMap() {  // only when the ESL job has a store map (404 otherwise)
  const img = $("#map img");
  img.onload = () => { $("#map").hidden = false; };
  img.onerror = () => { $("#map").hidden = true; };
  img.src = "/api/map.svg?t=" + Date.now();
}

function live() {
  const source = new EventSource("/api/events");
  source.addEventListener("open", () => pill($("#live"), "live", "ok"));
  source.addEventListener("error", () => pill($("#live"), "reconnecting…", "off"));  // EventSource retries by itself
  source.addEventListener("summary", (e) => {
    const d = JSON.parse(e.data);
    showStatus(d.status); showCounts(d.labels); applyFridgeSummary(d.fridges); showPicks(d.picks);
    document.body.dataset.updates = String(++updates);
  });
}

load().then(live, (err) => { document.body.dataset.error = err.message; $("#store").textContent = err.message; });
setInterval(() => { api("/api/fridges").then((f) => showFridges(f.sections), () => {}); showMap(); }, 300000);
