// The scale screen's own words, Chinese first: the text of every code of docs/http-api.md ("Codes and their texts") and the screen's labels.
// No text the daemon sends reaches a customer: a refusal or a state is shown by its code, with the text written here.

// Refusals: every code a scale route answers with, as the contract's table gives it.
export const REFUSALS = {
  zh: {
    invalid_argument: "请求有误，请联系店员",
    unauthorized: "需要访问令牌",
    forbidden: "请求被拒绝",
    not_found: "没有找到这个商品",
    not_sold_at_scale: "此商品不在秤上销售，请到收银台结算",
    not_ready: "请放上商品，等待称重稳定",
    stale_choice: "商品已变化，请重新选择",
    weight_changed: "重量有变化，正在重新识别",
    expired: "选择超时，请点“重新开始”",
    cancelled: "已取消，请取走商品或点“重新开始”",
    already_labelled: "标签已打印，请取走商品后再称下一件",
    count_needed: "请输入数量",
    not_by_piece: "此商品按重量计价，无需输入数量",
    needs_confirmation: "识别为 {recognised}，您选择的是 {chosen}，确认吗？",
    no_price: "此商品暂无价格，请联系店员",
    below_minimum: "重量太轻，无法计价",
    amount_too_large: "金额超出标签上限，请联系店员",
    scale_unavailable: "电子秤暂停服务，请联系店员",
    tare_refused: "秤未能扣除包装重量，请联系店员",
    camera_unavailable: "摄像头暂停服务，请联系店员",
    printer_unavailable: "打印机暂停服务，请联系店员",
    barcode_refused: "此商品无法打印条码，请联系店员",
    printing: "正在打印，请稍候",
  },
  en: {
    invalid_argument: "Something went wrong — please ask staff",
    unauthorized: "An access token is needed",
    forbidden: "Request refused",
    not_found: "Product not found",
    not_sold_at_scale: "This product is not sold at the scale — please pay for it at the checkout",
    not_ready: "Place your item and wait for the weight to settle",
    stale_choice: "The item changed — please choose again",
    weight_changed: "The weight changed — recognising again",
    expired: "Time ran out — tap \"Start again\"",
    cancelled: "Cancelled — take the item off or tap \"Start again\"",
    already_labelled: "Label printed — take the item off before the next one",
    count_needed: "Enter how many pieces",
    not_by_piece: "This product is sold by weight — no count needed",
    needs_confirmation: "We recognised {recognised}, you chose {chosen} — is that right?",
    no_price: "This product has no price — please ask staff",
    below_minimum: "Too light to price — add more",
    amount_too_large: "The total is too large for one label — please ask staff",
    scale_unavailable: "The scale is out of service — please ask staff",
    tare_refused: "The scale could not take off the container weight — please ask staff",
    camera_unavailable: "The camera is out of service — please ask staff",
    printer_unavailable: "The label printer is out of service — please ask staff",
    barcode_refused: "This product cannot be labelled here — please ask staff",
    printing: "Printing — one moment",
  },
};

// State codes (the snapshot's `code`), and the one the screen raises itself (`daemon_unavailable`); the other
// state codes (expired, cancelled, below_minimum, weight_changed, *_unavailable) have their refusal's text.
export const STATES = {
  zh: {
    place_item: "请放上商品",
    weighing: "称重中…",
    recognising: "识别中…",
    choose: "请选择商品",
    unrecognised: "无法识别，请搜索或按分类选择",
    recognition_unavailable: "暂不能自动识别，请搜索或按分类选择",
    printing: "正在打印…",
    printed: "标签已打印，请取走商品",
    out_of_service: "暂停服务，请联系店员",
    daemon_unavailable: "系统无响应，请稍候或联系店员",
  },
  en: {
    place_item: "Please put your item on the scale",
    weighing: "Weighing…",
    recognising: "Recognising…",
    choose: "Tap your product",
    unrecognised: "Not recognised — search or pick a category",
    recognition_unavailable: "Automatic recognition is off — search or pick a category",
    printing: "Printing…",
    printed: "Label printed — please take your item",
    out_of_service: "Out of service — please ask staff",
    daemon_unavailable: "The system is not answering — please wait or ask staff",
  },
};

// The screen's labels.
export const WORDS = {
  zh: {
    title: "自助称重", lang: "English", search: "都不是 · 搜索", back: "返回推荐", cancel: "取消", restart: "重新开始",
    stable: "稳定", moving: "称重中", perKg: "/千克", per500g: "/斤", perPiece: "/件", noPrice: "暂无价格", approx: "≈",
    typeHint: "点字母输入拼音首字母", clear: "清除", found: "找到 {n} 个", nothing: "没有找到，请换个字母或分类",
    browse: "按字母或分类查找", howMany: "买几件？", countHint: "最多 {max} 件", ok: "确定打印", no: "否，重新选择",
    yes: "是，打印", pieces: "{n} 件", total: "合计", unitPrice: "单价", weight: "重量", count: "数量", code: "代码",
    secondsLeft: "还剩 {n} 秒", jin: "{n} 斤", more: "还有 {n} 个，请再输入字母", unsure: "请核对后选择商品",
  },
  en: {
    title: "Self-service scale", lang: "中文", search: "None of these · Search", back: "Back to suggestions", cancel: "Cancel",
    restart: "Start again", stable: "Stable", moving: "Weighing", perKg: "/kg", per500g: "/500 g", perPiece: "/piece", noPrice: "no price",
    approx: "≈", typeHint: "Tap the first letters (pinyin or English)", clear: "Clear", found: "{n} found",
    nothing: "Nothing found — try other letters or a category", browse: "Search by letters or pick a category", howMany: "How many pieces?",
    countHint: "At most {max}", ok: "OK, print", no: "No, choose again", yes: "Yes, print", pieces: "{n} pieces", total: "Total",
    unitPrice: "Unit price", weight: "Weight", count: "Count", code: "Code", secondsLeft: "{n} s left", jin: "{n} jin",
    more: "{n} more — type another letter", unsure: "Check carefully, then tap your product",
  },
};

// The browsing categories of the contract (the daemon's `name` / `name_en` stand in for an id not listed here).
export const CATEGORIES = {
  zh: { fruit: "水果", vegetables: "蔬菜", packaged: "包装食品", other: "其他" },
  en: { fruit: "Fruit", vegetables: "Vegetables", packaged: "Packaged goods", other: "Other" },
};

// `{name}` placeholders filled in, each value as plain text (the caller escapes for HTML).
export function fill(text, values = {}) {
  return text.replace(/\{(\w+)\}/g, (whole, key) => (key in values ? String(values[key]) : whole));
}

// The text of a refusal's code; an unknown code gets the generic "ask staff" text, never the daemon's English.
export function refusalText(lang, code, values) {
  const table = REFUSALS[lang];
  return fill(table[code] ?? table.invalid_argument, values);
}

// The text of a state's code (a state code shared with a refusal has the refusal's text).
export function stateText(lang, code) {
  return STATES[lang][code] ?? refusalText(lang, code);
}
