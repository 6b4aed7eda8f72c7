// The esl job's cards on the store status page: labels, pick orders, the store map and fridge sections.
"use strict";
(() => {
  const { $, esc, api, card } = window.storeEdge;
  const COLORS = { red: "#e53935", green: "#43a047", blue: "#1e88e5", yellow: "#fdd835", cyan: "#00acc1", magenta: "#d81b60", white: "#fff" };

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

  function showMap() {  // only when the store has a map (404 otherwise)
    const img = $("#map img");
    img.onload = () => { $("#map").hidden = false; };
    img.onerror = () => { $("#map").hidden = true; };
    img.src = "/api/map.svg?t=" + Date.now();
  }

  card("labels", "价签 Labels", `<div class="counts"></div><table><thead><tr><th>label</th><th>sku</th><th>state</th><th>error</th></tr></thead><tbody></tbody></table>`);
  card("picks", "拣货 Pick orders in progress", `<table><tbody></tbody></table>`);
  card("map", "门店地图 Store map", `<img alt="store map" style="max-width:100%">`, true).hidden = true;
  card("fridge-sections", "冷柜 Fridge sections (24 h)", `<div id="fridges" class="fridges"></div>`, true);

  window.storeEdge.panel({
    async load() {
      const [labels, fridges, picks] = await Promise.all([
        api("/api/labels?state=failed&limit=50"), api("/api/fridges"), api("/api/picks?status=active"),
      ]);
      showCounts(labels.counts); showLabels(labels.labels); showFridges(fridges.sections); showPicks(picks.orders);
      showMap();
    },
    live(d) { showCounts(d.labels); applyFridgeSummary(d.fridges); showPicks(d.picks); },
    refresh() { api("/api/fridges").then((f) => showFridges(f.sections), () => {}); showMap(); },
  });
})();
