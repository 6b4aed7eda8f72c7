// The esl job's cards on the store status page: fridge sections, labels, pick orders, the last price proof and the store
// map. Its open alerts (a fridge out of range, labels that failed to update or the last price proof) go to the top of the
// page; its health figures get names.
"use strict";
(() => {
  const { $, esc, api, card, when, alerts, labels } = window.storeEdge;
  const COLORS = { red: "#e53935", green: "#43a047", blue: "#1e88e5", yellow: "#fdd835", cyan: "#00acc1", magenta: "#d81b60", white: "#fff" };
  const STATES = [["ok", "正常 up to date", "ok"], ["pending", "等待 waiting", ""], ["failed", "失败 failed", "bad"], ["unbound", "未绑定 not bound", ""]];
  const W = 150, H = 36;
  const HOURS = 24, POINTS = 96;  // the sparkline: the last day in 15-minute averages
  const FRIDGES = `/api/fridges?hours=${HOURS}&points=${POINTS}`;

  labels("esl", {
    "": "电子价签 Shelf labels",
    backend: "radio",
    push: "价签更新 Label updates",
    "push.batch_started": "batch started",
    pick: "拣货灯 Pick lights",
    "pick.lit_labels": "labels lit",
    "pick.led_commands": "LED commands sent",
    coldchain: "冷链 Cold chain",
    "coldchain.polls": "temperature rounds",
    "coldchain.sections": "sections",
    "coldchain.no_reading": "no reading since",
    positioning: "定位 Positioning",
    "positioning.rounds": "rounds",
    "positioning.located": "labels located",
    "positioning.rejected": "anchor readings rejected",
  });

  let failedLabels = 0;
  let proofFailing = 0;
  let sections = new Map();

  function raise() {  // this job's alerts at the top of the page: fridges first, then failed labels
    const list = [];
    for (const s of sections.values()) {
      if (!s.alert) continue;
      const now = s.last_c == null ? "" : ` now ${s.last_c.toFixed(1)} °C,`;
      const peak = Math.max(Number(s.alert.peak_c), s.last_c ?? -Infinity);
      list.push({ level: "bad", text: `冷柜告警 Fridge ${s.name || s.id}:${now} ${s.alert.reason} — since ${when(s.alert.raised_at)}, peak ${peak.toFixed(1)} °C` });
    }
    if (proofFailing) list.push({ level: "warn", text: `${proofFailing} shelf label${proofFailing === 1 ? "" : "s"} failed the last price proof (see Price proof below)` });
    if (failedLabels) list.push({ level: "warn", text: `${failedLabels} shelf label${failedLabels === 1 ? "" : "s"} failed to update (see Labels below)` });
    alerts("esl", list);
  }

  function showCounts(counts) {
    failedLabels = counts.failed || 0;
    $("#labels .counts").innerHTML = STATES.map(([k, name, cls]) => `<span class="pill ${cls}" data-state="${k}">${name} <b>${counts[k] || 0}</b></span>`).join(" ");
    raise();
  }

  function showLabels(list) {
    $("#labels tbody").innerHTML = list.length
      ? list.map((l) => `<tr><td>${esc(l.id)}</td><td>${esc(l.sku || "—")}</td><td>${esc(l.last_error || "—")}</td><td>${esc(when(l.last_seen))}</td></tr>`).join("")
      : `<tr><td colspan="4" class="empty">没有失败的价签 · No failed labels</td></tr>`;
  }

  function showPicks(orders) {
    $("#picks tbody").innerHTML = orders.length
      ? orders.map((o) => `<tr data-order="${esc(o.order_id)}"><td><span class="swatch" style="background:${COLORS[o.color] || esc(o.color)}"></span> ${esc(o.color)}</td><td>${esc(o.order_id)}</td><td>${o.done}/${o.items} picked</td><td>${esc(when(o.started_at))}</td></tr>`).join("")
      : `<tr><td colspan="4" class="empty">没有进行中的拣货单 · No pick orders in progress</td></tr>`;
  }

  // The last 24 h of 15-minute averages as a line; a single one as a dot with its value; the section's limits as dashed lines.
  function spark(readings, lo, hi) {
    if (!readings.length) return `<div class="spark-note">24 小时内无读数 · no readings in 24 h</div>`;
    const temps = readings.map((r) => r[1]);
    const min = Math.min(...temps, lo ?? Infinity), max = Math.max(...temps, hi ?? -Infinity);
    const y = (v) => (H - 2 - ((v - min) / ((max - min) || 1)) * (H - 4)).toFixed(1);
    const limits = [hi, lo].filter((v) => v != null).map((v) => `<line class="limit" x1="0" x2="${W}" y1="${y(v)}" y2="${y(v)}" stroke="#c62828" stroke-dasharray="3 3" stroke-width="1"/>`).join("");
    if (readings.length === 1) {
      return `<svg viewBox="0 0 ${W} ${H}" preserveAspectRatio="none">${limits}<line x1="0" x2="${W}" y1="${y(temps[0])}" y2="${y(temps[0])}" stroke="#1e88e5" stroke-width="1" stroke-opacity=".4"/>`
        + `<circle cx="${W / 2}" cy="${y(temps[0])}" r="2.5" fill="#1e88e5"/></svg>`
        + `<div class="spark-note">${(HOURS * 60) / POINTS}-minute average so far: ${temps[0].toFixed(1)} °C</div>`;
    }
    const t0 = readings[0][0], t1 = readings[readings.length - 1][0];
    const pts = readings.map((r) => `${(((r[0] - t0) / ((t1 - t0) || 1)) * W).toFixed(1)},${y(r[1])}`).join(" ");
    return `<svg viewBox="0 0 ${W} ${H}" preserveAspectRatio="none">${limits}<polyline fill="none" stroke="#1e88e5" stroke-width="1.5" points="${pts}"/></svg>`;
  }

  function fridgeHtml(s) {
    const t = s.last_c == null ? "—" : `${s.last_c.toFixed(1)} °C`;
    const range = s.min_c == null ? "" : `<span class="range">limits ${s.min_c}…${s.max_c} °C</span>`;
    return `<div class="fridge${s.alert ? " alert" : ""}" data-section="${esc(s.id)}"><div>${esc(s.name || s.id)} ${s.alert ? '<span class="pill bad">告警 alert</span>' : ""}</div>`
      + `<div class="t">${t}</div>${range}${spark(s.readings || [], s.min_c, s.max_c)}</div>`;
  }

  function showFridges(list) {
    sections = new Map(list.map((s) => [s.id, s]));
    $("#fridges").innerHTML = list.length ? list.map(fridgeHtml).join("") : `<p class="empty">没有配置冷柜 · No fridge sections configured</p>`;
    raise();
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

  // The last shelf = catalogue proof: when, what, the figures, its first failing labels and its report files.
  function showProof(p) {
    proofFailing = p ? p.failing : 0;
    const box = $("#proof");
    if (!p) {
      box.innerHTML = `<p class="empty">尚未核验 · No price proof yet (daily, or price.audit)</p>`;
    } else {
      const scope = p.label || p.sku ? ` · ${esc(p.label || "")}${p.label && p.sku ? " " : ""}${esc(p.sku || "")}` : "";
      const c = p.counts;
      const rows = p.failures.map((f) => `<tr data-label="${esc(f.label)}"><td>${esc(f.label)}</td><td>${esc(f.sku || "—")}</td><td>${esc(f.content)}</td><td>${esc(f.audit)}</td><td>${esc(f.place)}</td><td>${f.requeued ? "yes" : "no"}</td></tr>`).join("");
      box.innerHTML = `<div class="counts" data-proof="${p.id}"><span class="pill ${p.failing ? "bad" : "ok"}">${p.failing ? "未通过 failing" : "通过 all pass"} <b>${p.failing}</b></span>`
        + ` <span class="pill">checked <b>${p.labels}</b></span> <span class="pill">stale <b>${c.content.stale}</b></span>`
        + ` <span class="pill">misplaced <b>${c.place.misplaced}</b></span> <span class="pill">place unknown <b>${c.place.unknown}</b></span>`
        + ` <span class="pill">pushed again <b>${p.requeued}</b></span></div>`
        + `<p>${esc(p.kind === "daily" ? "daily" : "on demand")} proof ${p.id} of ${esc(p.day)}${scope}, ${esc(when(p.finished_at))} · audit chain row ${p.chain_id} · report ${esc(p.html.split("/").pop())}, ${esc(p.csv.split("/").pop())}</p>`
        + (rows ? `<table><thead><tr><th>failing label</th><th>product</th><th>content</th><th>audit</th><th>place</th><th>pushed again</th></tr></thead><tbody>${rows}</tbody></table>` : "");
    }
    raise();
  }

  function showMap() {  // only when the store has a map (404 otherwise)
    const img = $("#map img");
    img.onload = () => { $("#map").hidden = false; };
    img.onerror = () => { $("#map").hidden = true; };
    img.src = "/api/map.svg?t=" + Date.now();
  }

  card("fridge-sections", "冷柜 Fridge sections (last 24 h)", `<div id="fridges" class="fridges"></div>`, true);
  card("labels", "价签 Labels", `<div class="counts"></div><table><thead><tr><th>failed label</th><th>product</th><th>last error</th><th>last seen</th></tr></thead><tbody></tbody></table>`);
  card("picks", "拣货 Pick orders in progress", `<table><thead><tr><th>light</th><th>order</th><th>progress</th><th>started</th></tr></thead><tbody></tbody></table>`);
  card("proof-card", "价签核验 Price proof (shelf = catalogue)", `<div id="proof"></div>`);
  card("map", "门店地图 Store map", `<img alt="store map: shelves, located labels, open planogram deviations" style="max-width:100%">`, true).hidden = true;

  window.storeEdge.panel({
    async load() {
      const [labelPage, fridges, picks, proof] = await Promise.all([
        api("/api/labels?state=failed&limit=50"), api(FRIDGES), api("/api/picks?status=active"), api("/api/price-proof"),
      ]);
      showCounts(labelPage.counts); showLabels(labelPage.labels); showFridges(fridges.sections); showPicks(picks.orders);
      showProof(proof.proof);
      showMap();
    },
    live(d) { showCounts(d.labels); applyFridgeSummary(d.fridges); showPicks(d.picks); showProof(d.proof); },
    refresh() { api(FRIDGES).then((f) => showFridges(f.sections), () => {}); showMap(); },
  });
})();
