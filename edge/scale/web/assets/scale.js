// Scale touch screen: shows the daemon's snapshot in the customer's words; taps, letter-pad search, categories, counts and questions.
// Every amount is the daemon's string (docs/http-api.md, "Scale touch screen API"): this page formats nothing but the weight.
import { CATEGORIES, WORDS, fill, refusalText, stateText } from "./scale-text.js";

const $ = (id) => document.getElementById(id);
const esc = (s) => String(s ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
const scaleId = decodeURIComponent(location.pathname.split("/").pop());
const API = `/api/scale/${encodeURIComponent(scaleId)}`;

const SILENCE_MS = 2500;    // the daemon speaks at least once a second: this long without a word and the screen says it is not answering
const WATCH_MS = 250;       // how often the screen checks that it still hears the daemon
const REQUEST_MS = 6000;    // a read that gets no answer within this counts as the daemon not answering
const PRINT_MS = 20000;     // a tap waits this long for its label (re-read weight, render, print)
const PRINTED_MS = 8000;    // the printed summary stays this long, or until the next item settles
const MESSAGE_MS = 6000;    // a refusal's text stays this long (or until the next tap or an empty platter)
const LIGHT_MS = 1000;      // a load below the minimum this long is a light item, not one being lifted
const IDLE_LANG_MS = 30000; // back to Chinese after the platter has been empty this long (the next shopper)
const MAX_PIECES = 999;     // the contract's count limit (three keys)
const SEARCH_LIMIT = 24;
const CATEGORY_LIMIT = 60;
const LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ";
const COUNT_PROBLEMS = new Set(["amount_too_large"]);  // refusals of a count that another count may cure

const ui = {
  lang: "zh",
  snap: null,          // the daemon's last snapshot
  heard: 0,            // when the daemon last answered (performance.now())
  down: false,         // the daemon is not answering
  source: null,        // the EventSource
  view: "offer",       // "offer" (candidates) or "search"
  searchFor: null,     // the weighing the search was opened for
  query: "",
  category: null,
  categories: [],
  results: [],
  total: 0,
  searchSeq: 0,
  dialog: null,        // {kind: "count", ...} or {kind: "ask", ...}
  message: null,       // {code, at}: the last refusal
  printed: null,       // {sale, until, weighing}
  busy: false,         // a tap is being served
  emptySince: null,
  lightSince: null,    // since when the load has been below the scale's minimum
};

const w = (key, values) => fill(WORDS[ui.lang][key], values);
const say = (code) => stateText(ui.lang, code);
const refusal = (code, values) => refusalText(ui.lang, code, values);
const name = (p) => (ui.lang === "en" && p.name_en) || p.name || p.sku;
const unitWord = (unit) => ({ kg: w("perKg"), "500g": w("per500g"), piece: w("perPiece") }[unit] || "");
const price = (p) => (p.price ? `¥${p.price}${unitWord(p.unit)}` : w("noPrice"));
const kg = (grams) => (grams / 1000).toFixed(3);
const picture = (sku) => `${API}/picture/${encodeURIComponent(sku)}`;

// ---------- talking to the daemon: every request bounded and caught; a failure is the daemon not answering, never an uncaught error

async function call(path, { method = "GET", body, timeout = REQUEST_MS } = {}) {
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), timeout);
  try {
    const init = { method, signal: abort.signal, cache: "no-store" };
    if (body !== undefined) Object.assign(init, { headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
    const r = await fetch(API + path, init);
    let reply = null;
    try { reply = await r.json(); } catch { reply = null; }
    if (!reply || typeof reply !== "object" || (!r.ok && typeof reply.code !== "string")) {
      // not the daemon's JSON (a proxy's error page, a cut-off answer): the daemon is not answering
      return { ok: false, status: r.status, reply: { code: r.status >= 500 || !reply ? "daemon_unavailable" : "invalid_argument" } };
    }
    heard();
    return { ok: r.ok, status: r.status, reply };
  } catch {
    return { ok: false, status: 0, reply: { code: "daemon_unavailable" } };
  } finally {
    clearTimeout(timer);
  }
}

function heard() {
  ui.heard = performance.now();
  if (ui.down) { ui.down = false; document.body.dataset.live = "open"; render(); }
}

function lost() {
  if (!ui.down) { ui.down = true; ui.dialog = null; ui.busy = false; document.body.dataset.live = "lost"; render(); }
}

function listen() {
  const source = new EventSource(`${API}/events`);
  ui.source = source;
  source.addEventListener("open", () => { document.body.dataset.live = "open"; });
  source.addEventListener("scale", (e) => {
    let snap;
    try { snap = JSON.parse(e.data); } catch { return; }
    heard();
    document.body.dataset.live = "open";
    onSnapshot(snap);
  });
  source.addEventListener("error", () => {
    if (source.readyState === EventSource.CLOSED) {  // the browser gave up on this stream: open a new one later
      source.close();
      setTimeout(() => { if (ui.source === source) listen(); }, 2000);
    }
    probe();  // the stream dropped: ask once whether the daemon is there, so the banner does not wait for the watchdog
  });
}

async function probe() {
  const { ok, reply } = await call("", { timeout: 2000 });
  if (ok) onSnapshot(reply); else if (reply.code === "daemon_unavailable") lost();
}

setInterval(() => {
  const now = performance.now();
  if (!ui.down && now - ui.heard > SILENCE_MS) lost();
  if (ui.message && now - ui.message.at > MESSAGE_MS) { ui.message = null; render(); }
  if (ui.printed && now > ui.printed.until && ui.snap?.state !== "printed") { ui.printed = null; render(); }  // kept while the item is still on
  if (ui.lang !== "zh" && ui.emptySince !== null && now - ui.emptySince > IDLE_LANG_MS) { ui.lang = "zh"; render(); }
  if (ui.lightSince !== null && now - ui.lightSince < LIGHT_MS + 2 * WATCH_MS) render();  // a light load that stays gets its text
}, WATCH_MS);

// ---------- what the daemon says

function onSnapshot(snap) {
  const before = ui.snap;
  ui.snap = snap;
  const now = performance.now();
  const item = snap.weighing;
  const newItem = item != null && (!before || before.weighing !== item);
  if (snap.state === "place_item" || item == null) {
    // the platter is empty (or below the minimum): lifting the item closes every dialog and the search
    ui.dialog = null;
    closeSearch();
    if (ui.message && ui.message.code !== "not_sold_at_scale") ui.message = null;
    if (ui.emptySince === null) ui.emptySince = now;
  } else {
    ui.emptySince = null;
  }
  if (newItem) {
    // another load settled: what was open was for the old one
    ui.dialog = null;
    if (ui.searchFor !== item) closeSearch();
    if (ui.message && now - ui.message.at > 1500) ui.message = null;
    if (ui.printed && ui.printed.weighing !== item) ui.printed = null;
  }
  if (snap.code !== "below_minimum") ui.lightSince = null;
  else if (ui.lightSince === null) ui.lightSince = now;
  if (snap.state === "unrecognised" && ui.view !== "search") openSearch();
  if (snap.state === "out_of_service") ui.dialog = null;
  if (snap.state === "printed" && snap.printed && !ui.printed) ui.printed = { sale: snap.printed, until: now + PRINTED_MS, weighing: item };
  if (snap.state === "choose" && (!before || before.state !== "choose")) document.body.dataset.offeredAt = String(now);
  render();
}

// ---------- taps

function tapAllowed() {
  return !ui.down && !ui.busy && ui.snap && ui.snap.state !== "out_of_service";
}

function refused(reply) {
  const code = reply.code;
  if (code === "daemon_unavailable") { lost(); return; }
  ui.message = { code, at: performance.now() };
  if (code === "stale_choice" || code === "weight_changed" || code === "expired" || code === "cancelled") {
    ui.dialog = null;
    closeSearch();
  }
}

function product(choice) {
  // the card a tile was drawn from: a candidate by rank, else a search result by SKU
  if (choice.rank != null) return (ui.snap?.candidates || []).find((c) => c.rank === choice.rank);
  return ui.results.find((p) => p.sku === choice.sku);
}

async function tap(choice) {
  if (!tapAllowed()) return;
  const card = product(choice);
  if (!card) return;
  ui.message = null;
  if (card.sale_mode === "piece") { openCount(choice, card); return; }
  await confirm(choice, {});
}

async function confirm(choice, extra) {
  const body = { ...(choice.rank != null ? { rank: choice.rank } : { sku: choice.sku }), ...extra };
  if (ui.snap?.weighing != null) body.weighing = ui.snap.weighing;
  ui.busy = true;
  render();
  const { ok, reply } = await call("/confirm", { method: "POST", body, timeout: PRINT_MS });
  ui.busy = false;
  if (ok) {
    ui.dialog = null;
    closeSearch();
    ui.printed = { sale: reply, until: performance.now() + PRINTED_MS, weighing: reply.weighing ?? ui.snap?.weighing };
    document.body.dataset.barcode = reply.barcode;
  } else if (reply.code === "needs_confirmation" && reply.recognised && reply.chosen) {
    ui.dialog = { kind: "ask", choice, extra, recognised: reply.recognised, chosen: reply.chosen };
  } else if (ui.dialog?.kind === "count" && COUNT_PROBLEMS.has(reply.code)) {
    ui.dialog.problem = reply.code;  // another count may do: say why in the pad
  } else {
    ui.dialog = null;  // the refusal's text is on the prompt, not under a dialog
    refused(reply);
  }
  render();
}

async function button(which) {
  if (!tapAllowed()) return;
  ui.dialog = null;
  ui.message = null;
  closeSearch();
  const body = ui.snap?.weighing != null ? { weighing: ui.snap.weighing } : {};
  ui.busy = true;
  render();
  const { ok, reply } = await call(`/${which}`, { method: "POST", body });
  ui.busy = false;
  if (ok) onSnapshot(reply); else refused(reply);
  render();
}

// ---------- the count pad: starts empty, three digits at most, the daemon's quote before printing

function openCount(choice, card) {
  ui.dialog = { kind: "count", choice, card, digits: "", quote: null, seq: 0, full: false, problem: null };
  render();
}

async function countKey(key) {
  const d = ui.dialog;
  if (!d || d.kind !== "count") return;
  d.full = false;
  d.problem = null;
  if (key === "C") d.digits = "";
  else if (key === "⌫") d.digits = d.digits.slice(0, -1);
  else if (d.digits === "" && key === "0") return;  // no leading zero
  else if (Number(d.digits + key) > MAX_PIECES) d.full = true;
  else d.digits += key;
  d.quote = null;
  const seq = ++d.seq;
  render();
  if (!d.digits) return;
  const { ok, reply } = await call(`/quote?sku=${encodeURIComponent(d.card.sku)}&pieces=${Number(d.digits)}`);
  if (ui.dialog !== d || d.seq !== seq) return;  // another key was pressed meanwhile
  if (ok) d.quote = reply;
  else if (COUNT_PROBLEMS.has(reply.code)) d.problem = reply.code;  // this count cannot be sold: say why, let the shopper key another
  else { ui.dialog = null; refused(reply); }
  render();
}

function countOk() {
  const d = ui.dialog;
  if (!d || d.kind !== "count" || !d.quote || !tapAllowed()) return;
  confirm(d.choice, { pieces: Number(d.digits) });
}

// ---------- search: letter pad (pinyin initials or English), categories with pictures

function openSearch() {
  ui.view = "search";
  ui.searchFor = ui.snap?.weighing ?? null;
  ui.query = "";
  ui.category = null;
  ui.results = [];
  ui.total = 0;
  loadCategories();
}

function closeSearch() {
  ui.view = "offer";
  ui.searchFor = null;
  ui.query = "";
  ui.category = null;
  ui.results = [];
  ui.total = 0;
}

async function loadCategories() {
  const { ok, reply } = await call("/categories");
  if (ok && Array.isArray(reply.categories)) { ui.categories = reply.categories; render(); }
}

async function runSearch() {
  const seq = ++ui.searchSeq;
  if (!ui.query && !ui.category) { ui.results = []; ui.total = 0; render(); document.body.dataset.results = "|"; return; }
  const params = new URLSearchParams();
  if (ui.query) params.set("q", ui.query.toLowerCase());
  if (ui.category) params.set("category", ui.category);
  params.set("limit", String(ui.query ? SEARCH_LIMIT : CATEGORY_LIMIT));
  const { ok, reply } = await call(`/search?${params}`);
  if (seq !== ui.searchSeq || ui.view !== "search") return;
  if (ok) { ui.results = reply.products || []; ui.total = reply.total ?? ui.results.length; } else refused(reply);
  render();
  document.body.dataset.results = `${ui.query}|${ui.category ?? ""}`;  // the results on screen are for this search (tests, benchmarks)
}

function letter(key) {
  if (ui.view !== "search" || !tapAllowed()) return;
  if (key === "⌫") ui.query = ui.query.slice(0, -1);
  else if (key === "CLR") ui.query = "";
  else if (ui.query.length < 16) ui.query += key;
  render();
  runSearch();
}

// ---------- drawing

function tile(p, choice, compact) {
  const attrs = `data-sku="${esc(p.sku)}" ${choice.rank != null ? `data-rank="${choice.rank}"` : ""} data-mode="${esc(p.sale_mode)}"`;
  const art = p.picture
    ? `<img alt="" src="${esc(picture(p.sku))}" decoding="async" draggable="false">`
    : `<span class="art" style="background:${colour(p.sku)}">${esc(name(p).slice(0, 1))}</span>`;
  const total = p.total ? `<span class="total">${esc(w("approx"))} ¥${esc(p.total)}</span>` : "";
  return `<button type="button" class="tile${compact ? " compact" : ""}" ${attrs}>${art}` +
    `<span class="text"><span class="name">${esc(name(p))}</span><span class="price">${esc(price(p))}</span>${total}</span></button>`;
}

function colour(sku) {  // a stable dark colour per product for a tile without a picture
  let h = 0;
  for (const c of sku) h = (h * 31 + c.charCodeAt(0)) % 360;
  return `hsl(${h} 60% 24%)`;
}

function setHtml(el, html) {
  if (el.dataset.html !== html) { el.innerHTML = html; el.dataset.html = html; watchPictures(); }
}

function watchPictures() {
  // body[data-pictures="loaded"] once every picture on screen has loaded (or been replaced by its colour): for screenshots and tests
  const images = [...document.querySelectorAll("#main img")];
  const settle = () => {
    const pending = images.some((img) => img.isConnected && !img.complete);
    document.body.dataset.pictures = pending ? "loading" : "loaded";
  };
  document.body.dataset.pictures = "loading";
  images.forEach((img) => { if (!img.complete) { img.addEventListener("load", settle, { once: true }); img.addEventListener("error", settle, { once: true }); } });
  settle();
}

function quantity(sale) {
  return sale.pieces != null
    ? [w("count"), w("pieces", { n: sale.pieces })]
    : [w("weight"), `${kg(sale.grams)} kg`];
}

function render() {
  const snap = ui.snap;
  const body = document.body;
  document.documentElement.lang = ui.lang === "zh" ? "zh-CN" : "en";
  document.querySelectorAll("[data-w]").forEach((el) => { el.textContent = w(el.dataset.w); });
  $("lang").lang = ui.lang === "zh" ? "en" : "zh-CN";
  $("lang").textContent = w("lang");
  if (!snap && !ui.down) return;
  const out = ui.down || snap.state === "out_of_service";
  // "too light" only for a load that stays: a falling weight passes under the minimum on its way to an empty platter
  // (the daemon's `stable` follows the weighing phase, and a load under the minimum never leaves "placing")
  const light = snap?.code === "below_minimum" && performance.now() - ui.lightSince >= LIGHT_MS;
  const code = ui.down ? "daemon_unavailable" : snap.code === "below_minimum" && !light ? "place_item" : snap.code;
  const state = ui.down ? "out_of_service" : snap.state;
  body.dataset.state = state;
  body.dataset.code = code;
  body.dataset.phase = ui.down ? "unknown" : snap.phase;
  body.dataset.weighing = snap?.weighing ?? "";
  body.dataset.view = ui.view;

  // weight: nothing shown that the scale is not saying now
  const grams = !out && snap.grams != null ? snap.grams : null;
  $("grams").textContent = grams == null ? "-.---" : kg(grams);
  $("jin").textContent = grams != null && snap.display_unit === "500g" ? w("jin", { n: (grams / 500).toFixed(2) }) : "";
  const stable = $("stable");
  const settled = snap?.stable || light;  // a too-light load that stays is at rest: not "weighing…" beside "too light"
  stable.textContent = grams ? (settled ? w("stable") : w("moving")) : "";
  stable.className = "stable " + (settled ? "yes" : "no");

  // out of service: the shopper's words and the code for staff; every tap under it is refused
  $("oos").hidden = !out;
  if (out) {
    $("oosText").textContent = say(code);
    $("oosCode").textContent = code;
  }

  // the prompt: a refusal's text, else the state's
  const printed = ui.printed;
  const prompt = $("prompt");
  let text, kind = "";
  if (out) text = say(code);
  else if (ui.busy) text = say("printing");
  else if (ui.message) { text = refusal(ui.message.code); kind = "error"; }
  else if (printed) { text = say("printed"); kind = "done"; }
  else if (state === "choose" && snap.unsure) text = w("unsure");  // the model could not tell close candidates apart: look before tapping
  else text = say(code);
  if (!out && !ui.busy && !ui.message && !printed && state === "choose" && snap.window_left_s != null && snap.window_left_s <= 10) {
    text += ` · ${w("secondsLeft", { n: snap.window_left_s })}`;
  }
  prompt.textContent = text;
  prompt.className = "prompt" + (kind ? " " + kind : "");

  // the main area: the printed summary, the search, the candidates, a start-again button, or a hint
  const showDone = !out && !!printed;
  const showSearch = !out && !showDone && ui.view === "search" && ["choose", "unrecognised", "printing"].includes(state);
  const showTiles = !out && !showDone && !showSearch && ["choose", "printing"].includes(state);
  const showAgain = !out && !showDone && ["expired", "cancelled"].includes(state);
  $("done").hidden = !showDone;
  $("search").hidden = !showSearch;
  $("tiles").hidden = !showTiles;
  $("again").hidden = !showAgain;
  $("hint").hidden = !(!out && !showDone && !showSearch && !showTiles && !showAgain);
  $("hint").textContent = $("hint").hidden ? "" : say(code);
  const offered = showTiles ? snap.candidates || [] : [];
  $("tiles").style.setProperty("--n", String(Math.max(1, offered.length)));
  setHtml($("tiles"), offered.map((c) => tile(c, { rank: c.rank }, false)).join(""));
  if (showDone) {
    const sale = printed.sale;
    $("doneName").textContent = name(sale);
    const [label, value] = quantity(sale);
    $("doneQtyLabel").textContent = label;
    $("doneQty").textContent = value;
    $("doneUnit").textContent = `¥${sale.unit_price}${unitWord(sale.unit)}`;
    $("doneAmount").textContent = `¥${sale.amount}`;
  }
  if (showSearch) renderSearch(); else setHtml($("results"), "");

  // the bar: cancel and start again while a weighing is open, search or back to the suggestions
  const open = ["choose", "unrecognised", "expired"].includes(state);
  $("cancel").hidden = out || showDone || !open;
  $("restart").hidden = out || showDone || !(open || state === "cancelled") || showAgain;
  const none = $("none");
  none.hidden = out || showDone || !["choose", "unrecognised"].includes(state) || (state === "unrecognised" && showSearch);
  none.textContent = showSearch ? w("back") : w("search");
  body.classList.toggle("busy", ui.busy);

  renderDialog(out);
}

function renderSearch() {
  $("query").textContent = ui.query;
  $("queryHint").hidden = !!ui.query;
  setHtml($("cats"), ui.categories.map((c) => {
    const label = CATEGORIES[ui.lang][c.category] || (ui.lang === "en" ? c.name_en : c.name) || c.category;
    const art = c.picture ? `<img alt="" src="${esc(picture(c.picture))}" draggable="false">` : "";
    return `<button type="button" class="cat${ui.category === c.category ? " on" : ""}" data-category="${esc(c.category)}">${art}<span>${esc(label)}</span></button>`;
  }).join(""));
  const found = $("found");
  if (!ui.query && !ui.category) found.textContent = w("browse");
  else if (!ui.results.length) found.textContent = w("nothing");
  else if (ui.total > ui.results.length) found.textContent = `${w("found", { n: ui.total })} · ${w("more", { n: ui.total - ui.results.length })}`;
  else found.textContent = w("found", { n: ui.total });
  setHtml($("results"), ui.results.map((p) => tile(p, { sku: p.sku }, true)).join(""));
}

function renderDialog(out) {
  const d = out ? null : ui.dialog;
  $("count").hidden = !(d && d.kind === "count");
  $("ask").hidden = !(d && d.kind === "ask");
  if (!d) return;
  if (d.kind === "count") {
    $("countName").textContent = name(d.card);
    $("countUnit").textContent = price(d.card);
    $("countValue").textContent = d.digits || "—";
    $("countValue").classList.toggle("empty", !d.digits);
    $("countTotal").textContent = d.quote ? `¥${d.quote.amount}` : d.digits ? "…" : "—";
    $("countLimit").textContent = d.problem ? refusal(d.problem) : w("countHint", { max: MAX_PIECES });
    $("countLimit").classList.toggle("full", d.full || !!d.problem);
    $("countOk").disabled = !d.quote || ui.busy;
  } else {
    const chosen = d.chosen;
    $("askText").textContent = refusal("needs_confirmation", { recognised: name(d.recognised), chosen: name(chosen) });
    const [label, value] = quantity(chosen);
    $("askQtyLabel").textContent = label;
    $("askQty").textContent = value;
    $("askUnit").textContent = price(chosen);
    $("askAmount").textContent = `¥${chosen.amount}`;
    $("askYes").disabled = ui.busy;
  }
}

// ---------- wiring

$("pad").innerHTML = ["1", "2", "3", "4", "5", "6", "7", "8", "9", "C", "0", "⌫"]
  .map((k) => `<button type="button" data-k="${k}"${k === "C" ? ' class="clear"' : ""}>${k === "C" ? esc(WORDS.zh.clear) : k}</button>`).join("");
$("keys").innerHTML = [...LETTERS, "⌫", "CLR"]
  .map((k) => `<button type="button" data-k="${k}"${LETTERS.includes(k) ? "" : ' class="edit"'}>${k === "CLR" ? esc(WORDS.zh.clear) : k}</button>`).join("");

document.addEventListener("click", (e) => {
  const target = e.target.closest("button");
  if (!target) return;
  if (ui.emptySince !== null) ui.emptySince = performance.now();  // someone is using the screen: no return to Chinese now
  if (target.id === "lang") { ui.lang = ui.lang === "zh" ? "en" : "zh"; render(); relabel(); return; }
  if (!tapAllowed()) return;
  if (target.classList.contains("tile")) {
    tap(target.dataset.rank ? { rank: Number(target.dataset.rank) } : { sku: target.dataset.sku });
  } else if (target.parentElement?.id === "pad") countKey(target.dataset.k);
  else if (target.parentElement?.id === "keys") letter(target.dataset.k);
  else if (target.classList.contains("cat")) {
    ui.category = ui.category === target.dataset.category ? null : target.dataset.category;
    render();
    runSearch();
  } else if (target.id === "none") {
    if (ui.view === "search") closeSearch(); else openSearch();
    ui.message = null;
    render();
  } else if (target.id === "cancel") button("cancel");
  else if (target.id === "restart" || target.id === "againButton") button("restart");
  else if (target.id === "countCancel") { ui.dialog = null; render(); }
  else if (target.id === "countOk") countOk();
  else if (target.id === "askYes") { const d = ui.dialog; if (d?.kind === "ask") confirm(d.choice, { ...d.extra, confirmed: true }); }
  else if (target.id === "askNo") { ui.dialog = null; render(); }
});

// pictures that fail to load give way to the product's colour
document.addEventListener("error", (e) => {
  const img = e.target;
  if (!(img instanceof HTMLImageElement)) return;
  const tileEl = img.closest(".tile");
  if (tileEl) {
    const art = document.createElement("span");
    art.className = "art";
    art.style.background = colour(tileEl.dataset.sku || "");
    art.textContent = tileEl.querySelector(".name")?.textContent.slice(0, 1) || "";
    img.replaceWith(art);
  } else img.remove();
  watchPictures();
}, true);

// a hardware keyboard (staff, a kiosk with keys) types like the pads
document.addEventListener("keydown", (e) => {
  if (e.ctrlKey || e.metaKey || e.altKey) return;
  const key = e.key.length === 1 ? e.key.toUpperCase() : e.key;
  if (ui.dialog?.kind === "count") {
    if (/^[0-9]$/.test(key)) countKey(key);
    else if (key === "Backspace") countKey("⌫");
    else if (key === "Enter") countOk();
    else if (key === "Escape") { ui.dialog = null; render(); }
  } else if (ui.view === "search" && !ui.dialog) {
    if (LETTERS.includes(key)) letter(key);
    else if (key === "Backspace") letter("⌫");
  }
});

function relabel() {  // the pads' clear keys in the language shown
  document.querySelectorAll("#pad .clear, #keys [data-k='CLR']").forEach((el) => { el.textContent = w("clear"); });
}

document.body.dataset.live = "connecting";
ui.heard = performance.now();
render();
listen();
