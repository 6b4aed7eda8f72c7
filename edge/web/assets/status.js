// Store status page: first paint from the JSON API, then live `summary` events (read-only).
// The core draws the daemon status, the devices of every job and the open alerts (at the top). Each running job's
// panel script (listed in the page by the server) calls storeEdge.panel({load, live, refresh}) to add its cards,
// storeEdge.labels(job, names) to name its health figures, and storeEdge.alerts(owner, list) to raise its alerts.
// When the live feed stops and /api/status does not answer, the page says "daemon unreachable", greys what it shows
// and keeps asking; once the daemon answers it reloads everything by itself.
"use strict";
const $ = (sel, root = document) => root.querySelector(sel);
const esc = (s) => String(s ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
const PROBE_MS = 5000;    // how often the page checks on the daemon while its feed is silent or down
const SILENT_MS = 5000;   // a feed without a summary this long is checked (its keep-alives are invisible to scripts)
const TIMEOUT_MS = 4000;  // an API call slower than this counts as no answer
const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d(\.\d+)?)?(Z|[+-]\d\d:?\d\d)$/;
const UNITS = [["_ms", "ms"], ["_s", "s"], ["_c", "°C"], ["_v", "V"], ["_m", "m"], ["_mb", "MB"]];
const CORE_LABELS = { sync: { "": "总部同步 HQ sync" } };
const panels = [];
const names = { ...CORE_LABELS };
const raised = new Map();  // owner -> [{level, text}]
const page = { zone: null, down: null, lastAnswer: null, heard: 0, source: null, probing: false, updates: 0, status: null };

async function api(path) {
  let r;
  try {
    r = await fetch(path, { credentials: "same-origin", signal: AbortSignal.timeout(TIMEOUT_MS) });
  } catch (err) {
    throw new Error(err.name === "TimeoutError" ? `no answer within ${TIMEOUT_MS / 1000} s` : "no answer (connection refused or network down)");
  }
  if (r.status === 401) throw new Error("the access token was refused (reload the page and enter it)");
  if (!r.ok) throw new Error(`${path} answered HTTP ${r.status}`);
  return r.json();
}

function pill(el, text, cls) { el.textContent = text; el.className = "pill " + cls; }

function zoneParts(date) {  // the calendar and clock of the store's zone (UTC if the status names none or an unknown one)
  const opts = { year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23", timeZoneName: "shortOffset" };
  let format;
  try { format = new Intl.DateTimeFormat("en-CA", { ...opts, timeZone: page.zone || "UTC" }); } catch { format = new Intl.DateTimeFormat("en-CA", { ...opts, timeZone: "UTC" }); }
  return Object.fromEntries(format.formatToParts(date).map((p) => [p.type, p.value]));
}

// A time (RFC 3339 string or epoch seconds) in the store's local time with its offset: "08:00:05 UTC+8", with the date unless today.
function when(value) {
  if (value === null || value === undefined || value === "") return "—";
  const d = typeof value === "number" ? new Date(value * 1000) : new Date(value);
  if (Number.isNaN(d.getTime())) return String(value);
  const p = zoneParts(d), now = zoneParts(new Date());
  const day = `${p.year}-${p.month}-${p.day}`;
  const zone = (p.timeZoneName || "GMT").replace(/^GMT/, "UTC");
  return `${day === `${now.year}-${now.month}-${now.day}` ? "" : day + " "}${p.hour}:${p.minute}:${p.second} ${zone}`;
}

function label(job, path, key) {  // a figure's name: the one its job gave, else its key in words ("in_flight" -> "in flight")
  const given = names[job] && names[job][path];
  if (given) return given;
  const unit = UNITS.find(([suffix]) => key.endsWith(suffix));
  return (unit ? key.slice(0, -unit[0].length) : key).replace(/_/g, " ");
}

function valueText(key, value) {  // a figure's value in words: times local, units from the key's suffix, yes/no
  if (typeof value === "boolean") return value ? "yes" : "no";
  if (typeof value === "string" && ISO.test(value)) return when(value);
  const unit = UNITS.find(([suffix]) => key.endsWith(suffix));
  if (typeof value === "number") return unit ? `${value} ${unit[1]}` : String(value);
  if (Array.isArray(value)) return value.length && value.length <= 5 && value.every((v) => v === null || typeof v !== "object") ? value.join(", ") : `${value.length}`;
  return String(value);
}

// A device's state in words: "out of service (printer unavailable)" as its screen says (a scale), else its phase or state.
const deviceState = (d) => d.out_of_service ? `out of service (${String(d.code || "").replace(/_/g, " ")})` : d.phase || d.state;
const isDevice = (d) => d && typeof d === "object" && !Array.isArray(d) && ("healthy" in d || "state" in d || "phase" in d);
const isProblem = (key) => /error|problem/.test(key);

// Figures of one object as "name value · name value"; nulls and empty groups left out, nested groups one level deep;
// an error figure is red while its job is not working (a healthy job's last error is history).
function figures(job, path, obj, failing = false) {
  const out = [];
  for (const [key, value] of Object.entries(obj)) {
    if (value === null || value === undefined || value === "") continue;
    const sub = path ? `${path}.${key}` : key;
    if (typeof value === "object" && !Array.isArray(value)) {
      const inner = Object.entries(value).filter(([, v]) => v !== null && typeof v !== "object").map(([k, v]) => `${esc(k)} ${esc(valueText(k, v))}`);
      if (inner.length) out.push(`${esc(label(job, sub, key))}: ${inner.join(", ")}`);
      continue;
    }
    const text = `${esc(label(job, sub, key))} ${esc(valueText(key, value))}`;
    out.push(failing && isProblem(key) ? `<span class="problem">${text}</span>` : text);
  }
  return out.join(" · ");
}

// What a job's panel script may use: helpers, `panel` to register {load(): Promise, live(summary), refresh()},
// `labels(job, {path: name})` to name its health figures ("" names the job itself), `alerts(owner, [{level, text}])`.
window.storeEdge = {
  $, esc, api, pill, when,
  panel(p) { panels.push(p); },
  labels(job, given) { names[job] = { ...(names[job] || {}), ...given }; },
  alerts(owner, list) { raised.set(owner, list); showAlerts(); },
  card(id, title, html, wide = false) {  // a card in the grid, in registration order
    const section = document.createElement("section");
    section.className = "card"; section.id = id; section.innerHTML = `<h2>${title}</h2>${html}`;
    if (wide) section.style.gridColumn = "1 / -1";
    $("#panels").appendChild(section);
    return section;
  },
};

function coreAlerts(s) {  // what the daemon's own status says is wrong now
  const out = [];
  if (s.link.state !== "connected") {
    out.push({ level: "bad", text: `总部连接 HQ link ${s.link.state}${s.link.last_error ? ": " + s.link.last_error : ""} — ${s.link.outbox_depth} events wait in the outbox and go out once it is back` });
  }
  for (const [job, c] of Object.entries(s.components)) {
    const name = label(job, "", job);
    if (!c.healthy) out.push({ level: "bad", text: `${name}: not working${c.last_crash ? " — last crash: " + c.last_crash : ""}` });
    const detail = c.detail && typeof c.detail === "object" ? c.detail : {};
    for (const group of Object.values(detail)) {
      if (!group || typeof group !== "object" || !Object.values(group).every(isDevice)) continue;
      for (const [id, d] of Object.entries(group)) {
        if (d.healthy === false || d.state === "down") out.push({ level: "bad", text: `${name} · ${id}: ${deviceState(d) || "fault"}${d.last_error ? " — " + d.last_error : ""}` });
      }
    }
  }
  return out;
}

function showAlerts() {
  const all = [...(page.status ? coreAlerts(page.status) : []), ...[...raised.values()].flat()];
  all.sort((a, b) => (a.level === "bad" ? 0 : 1) - (b.level === "bad" ? 0 : 1));
  $("#alerts").classList.toggle("active", all.length > 0);
  $("#alerts .list").innerHTML = all.length
    ? `<ul>${all.map((a) => `<li class="${a.level === "bad" ? "bad" : "warn"}">${esc(a.text)}</li>`).join("")}</ul>`
    : `<p class="none">✓ 没有未处理的告警 · No open alerts</p>`;
}

function showClock() {
  const p = zoneParts(new Date());
  $("#clock").textContent = `门店时间 ${p.hour}:${p.minute} ${(p.timeZoneName || "GMT").replace(/^GMT/, "UTC")}`;
  $("#clock").title = `门店时间 the store's local time: ${page.zone || "UTC (the daemon names no zone)"}`;
}

function showStatus(s) {
  page.status = s;
  page.zone = s.timezone || null;
  showClock();
  $("#store").textContent = s.store_id;
  const linked = s.link.state === "connected";
  pill($("#link"), `总部连接 HQ link: ${linked ? "connected" : s.link.state}`, linked ? "ok" : "bad");
  const waiting = s.link.outbox_depth;
  pill($("#outbox"), `outbox ${waiting === 0 ? "empty" : `${waiting} waiting`} · last sync ${s.link.last_sync ? when(s.link.last_sync) : "never"}`, waiting > 1000 ? "warn" : "");
  const rows = [];
  for (const [job, c] of Object.entries(s.components)) {
    const detail = c.detail && typeof c.detail === "object" ? c.detail : {};
    const scalars = Object.fromEntries(Object.entries(detail).filter(([, v]) => v === null || typeof v !== "object"));
    const restarts = c.restarts ? `restarted ${c.restarts}×${c.last_crash ? " · last crash: " + esc(c.last_crash) : ""}` : "";
    const about = [restarts, figures(job, "", scalars, !c.healthy)].filter(Boolean).join(" · ") || "running";
    rows.push(`<tr data-component="${esc(job)}"><th>${esc(label(job, "", job))}</th><td><span class="pill ${c.healthy ? "ok" : "bad"}">${c.healthy ? "ok" : "not working"}</span></td><td class="muted">${about}</td></tr>`);
    for (const [key, value] of Object.entries(detail)) {
      if (!value || typeof value !== "object" || Array.isArray(value)) continue;
      const items = Object.values(value);
      if (items.length > 0 && items.every(isDevice)) {  // a job's devices (e.g. scales, screens): one row each
        for (const [id, d] of Object.entries(value)) {
          const ok = d.healthy !== false && d.state !== "down";
          const problem = d.last_error || d.problem;
          rows.push(`<tr data-device="${esc(id)}"><td></td><td>${esc(id)}</td><td><span class="pill ${ok ? "ok" : "bad"}">${esc(deviceState(d) || (ok ? "ok" : "fault"))}</span>${problem ? ` <span class="problem">${esc(problem)}</span>` : ""}</td></tr>`);
        }
      } else {  // a group of figures such as label updates: "queued 0 · done 306"
        const text = figures(job, key, value, !c.healthy);
        if (text) rows.push(`<tr data-figures="${esc(key)}"><td></td><td>${esc(label(job, key, key))}</td><td class="muted">${text}</td></tr>`);
      }
    }
  }
  $("#components tbody").innerHTML = rows.length ? rows.join("") : `<tr><td class="muted">没有运行的任务 · No jobs running</td></tr>`;
  showAlerts();
}

function heard() { page.heard = Date.now(); page.lastAnswer = new Date(); }

function markDown(err) {  // the daemon does not answer: say so, and stop showing green for what is no longer known
  page.down = err.message;
  document.body.classList.add("unreachable");
  $("#unreachable").hidden = false;
  $("#unreachable .why").textContent = `— ${err.message}; last answer ${page.lastAnswer ? when(page.lastAnswer.getTime() / 1000) : "never"}.`;
  for (const el of document.querySelectorAll(".pill.ok, .pill.warn")) el.classList.replace(el.classList.contains("ok") ? "ok" : "warn", "stale");
  pill($("#link"), "总部连接 HQ link: unknown", "stale");
  pill($("#live"), "offline", "off");
}

async function recover() {  // the daemon answers again: fresh data everywhere, and a live feed if the old one gave up
  page.down = null;
  document.body.classList.remove("unreachable");
  $("#unreachable").hidden = true;
  try {
    await load();
  } catch (err) {
    markDown(err);
    return;
  }
  if (!page.source || page.source.readyState === EventSource.CLOSED) live();
  else if (page.source.readyState === EventSource.OPEN) pill($("#live"), "live", "ok");
}

async function probe() {  // is the daemon there? One status request, bounded in time.
  if (page.probing) return;
  page.probing = true;
  try {
    const s = await api("/api/status");
    heard();
    if (page.down) await recover(); else showStatus(s);
  } catch (err) {
    markDown(err);
  } finally {
    page.probing = false;
  }
}

async function load() {
  showStatus(await api("/api/status"));
  heard();
  await Promise.all(panels.map((p) => p.load()));
  document.body.dataset.loaded = "1";
}

function live() {
  if (page.source) page.source.close();
  const source = page.source = new EventSource("/api/events");
  source.addEventListener("open", () => { if (page.down) probe(); else pill($("#live"), "live", "ok"); });
  source.addEventListener("error", () => { if (!page.down) pill($("#live"), "reconnecting…", "off"); probe(); });  // EventSource retries by itself
  source.addEventListener("summary", (e) => {
    heard();
    if (page.down) { recover(); return; }
    const d = JSON.parse(e.data);
    showStatus(d.status);
    for (const p of panels) p.live(d);
    document.body.dataset.updates = String(++page.updates);
  });
}

// Panel scripts come after this one; start once they have all registered.
document.addEventListener("DOMContentLoaded", () => {
  load().then(live, (err) => { markDown(err); live(); });
  setInterval(() => {
    const feedOpen = page.source && page.source.readyState === EventSource.OPEN;
    if (page.down || !feedOpen || Date.now() - page.heard > SILENT_MS) probe();
  }, PROBE_MS);
  setInterval(showClock, 10000);
  setInterval(() => { if (!page.down) for (const p of panels) if (p.refresh) p.refresh(); }, 300000);
});
