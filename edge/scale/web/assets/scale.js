// Scale touch screen: live weight and candidates over server-sent events, tap to confirm, search, piece count.
"use strict";
const $ = (sel) => document.querySelector(sel);
const esc = (s) => String(s ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
const scaleId = decodeURIComponent(location.pathname.split("/").pop());
const TEXT = {
  zh: { title: "自助称重", none: "都不是 · 搜索", back: "返回推荐", howMany: "几件？", cancel: "取消", ok: "确定", place: "请将商品放在秤盘上",
        moving: "称重中…", stable: "稳定", pick: "请选择商品", searching: "正在识别…", printed: "标签已打印，请取走商品", perKg: "/千克",
        per500g: "/斤", perPiece: "/件", noPrice: "无价格", searchHint: "输入名称或拼音首字母", nothing: "没有找到", clear: "请先取走商品" },
  en: { title: "Self-service scale", none: "None of these · Search", back: "Back to suggestions", howMany: "How many pieces?", cancel: "Cancel",
        ok: "OK", place: "Place your item on the scale", moving: "Weighing…", stable: "Stable", pick: "Tap your product", searching: "Recognising…",
        printed: "Label printed, please take your item", perKg: "/kg", per500g: "/500 g", perPiece: "/piece", noPrice: "no price",
        searchHint: "Type a name or pinyin initials", nothing: "Nothing found", clear: "Please take the item off first" },
};
let lang = "zh", state = null, searching = false, results = [], message = null, pending = null;
const t = (k) => TEXT[lang][k];

function colour(sku) {  // a stable colour per product for its tile (no pictures are shipped)
  let h = 0;
  for (const c of sku) h = (h * 31 + c.charCodeAt(0)) % 360;
  return `hsl(${h} 55% 38%)`;
}
const unit = (u) => ({ kg: t("perKg"), "500g": t("per500g"), piece: t("perPiece") }[u] || "");
const name = (p) => (lang === "en" && p.name_en) || p.name || p.sku;

function tile(p, choice) {
  const price = p.price ? `¥${p.price}${unit(p.unit)}` : t("noPrice");
  return `<button class="tile" style="background:${colour(p.sku)}" data-sku="${esc(p.sku)}" data-choice="${esc(choice)}" data-unit="${esc(p.unit)}">` +
    `<span class="name">${esc(name(p))}</span>` +
    `<img alt="" src="/api/scale/${encodeURIComponent(scaleId)}/picture/${encodeURIComponent(p.sku)}" onerror="this.remove()">` +
    `<span class="price">${esc(price)}</span></button>`;
}

function render() {
  document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
  document.querySelectorAll("[data-t]").forEach((el) => { el.textContent = t(el.dataset.t); });
  $("#lang").textContent = lang === "zh" ? "English" : "中文";
  $("#none").textContent = searching ? t("back") : t("none");
  $("#search").hidden = !searching;
  $("#search").placeholder = t("searchHint");
  if (!state) return;
  $("#grams").textContent = state.grams == null ? "-.---" : (state.grams / 1000).toFixed(3);
  const st = $("#state");
  st.textContent = state.grams ? (state.stable ? t("stable") : t("moving")) : "";
  st.className = "state " + (state.stable ? "stable" : "moving");
  const prompt = $("#prompt");
  prompt.className = "prompt" + (message ? " " + message.kind : "");
  prompt.textContent = message ? message.text
    : state.phase === "empty" ? t("place") : state.phase === "offered" ? (state.problem || t("pick"))
    : state.phase === "stable" ? t("searching") : state.phase === "placing" ? t("moving") : state.problem || "";
  const list = searching ? results.map((p) => tile(p, p.sku)) : state.phase === "offered" ? state.candidates.map((c) => tile(c, c.rank)) : [];
  const html = searching && !results.length && $("#search").value ? `<div class="prompt">${esc(t("nothing"))}</div>` : list.join("");
  if ($("#tiles").innerHTML !== html) $("#tiles").innerHTML = html;
  document.body.dataset.phase = state.phase;
}

function onState(s) {
  const before = state && state.phase;
  state = s;
  if (before !== s.phase && s.phase !== "confirmed" && message && message.kind === "done") message = null;
  if (s.phase === "empty") { searching = false; results = []; $("#search").value = ""; if (message && message.kind === "error") message = null; }
  render();
  if (s.phase === "offered" && before !== "offered") document.body.dataset.offeredAt = String(performance.now());
}

async function confirm(choice, unitName, pieces) {
  if (unitName === "piece" && pieces == null) { pending = choice; $("#countValue").textContent = "1"; $("#count").hidden = false; return; }
  const body = typeof choice === "number" || /^\d+$/.test(String(choice)) && !searching ? { rank: Number(choice) } : { sku: String(choice) };
  if (pieces != null) body.pieces = pieces;
  const r = await fetch(`/api/scale/${encodeURIComponent(scaleId)}/confirm`, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
  const reply = await r.json();
  if (r.ok) {
    message = { kind: "done", text: `${t("printed")} · ¥${reply.amount}` };
    document.body.dataset.barcode = reply.barcode;
    searching = false;
  } else {
    message = { kind: "error", text: reply.code === "not_ready" ? t("clear") : reply.error };
  }
  render();
}

async function search() {
  const q = $("#search").value.trim();
  if (!q) { results = []; render(); return; }
  const r = await fetch(`/api/scale/${encodeURIComponent(scaleId)}/search?q=${encodeURIComponent(q)}`);
  results = r.ok ? (await r.json()).products : [];
  render();
}

$("#tiles").addEventListener("click", (e) => {
  const b = e.target.closest(".tile");
  if (b) { message = null; confirm(b.dataset.choice, b.dataset.unit); }
});
$("#lang").addEventListener("click", () => { lang = lang === "zh" ? "en" : "zh"; render(); });
$("#none").addEventListener("click", () => { searching = !searching; results = []; message = null; render(); if (searching) $("#search").focus(); });
$("#search").addEventListener("input", search);
$("#pad").innerHTML = [1, 2, 3, 4, 5, 6, 7, 8, 9, "⌫", 0, "C"].map((k) => `<button type="button" data-k="${k}">${k}</button>`).join("");
$("#pad").addEventListener("click", (e) => {
  const k = e.target.dataset.k, v = $("#countValue");
  if (k === undefined) return;
  let n = k === "C" ? "" : k === "⌫" ? v.textContent.slice(0, -1) : (v.textContent === "0" ? "" : v.textContent) + k;
  v.textContent = n.slice(0, 3) || "0";
});
$("#countCancel").addEventListener("click", () => { $("#count").hidden = true; pending = null; });
$("#countOk").addEventListener("click", () => {
  const n = Number($("#countValue").textContent);
  $("#count").hidden = true;
  if (n >= 1 && pending !== null) confirm(pending, "piece", n);
  pending = null;
});

function live() {
  const source = new EventSource(`/api/scale/${encodeURIComponent(scaleId)}/events`);
  source.addEventListener("scale", (e) => onState(JSON.parse(e.data)));
  source.addEventListener("error", () => { document.body.dataset.live = "reconnecting"; });  // EventSource retries by itself
  source.addEventListener("open", () => { document.body.dataset.live = "open"; });
}
render();
live();
