// The regulator portal: dashboard, case list with filters and CSV export, case page with its
// evidence, deliveries, audit trail and actions. Everything shown comes from the regulator API
// (/v1/regulator/…), which enforces the account's jurisdiction; this script only draws.
"use strict";

const T = {
  zh: {
    portal: "监管门户", dashboard: "概览", cases: "案件", footer: "所有数据仅限本辖区 · 来源号码已脱敏",
    lang: "English", perDay: "每日新增案件（按原因）", byCity: "按城市", topProducts: "涉案商品 Top",
    ageing: "待确认案件时限（7个工作日）", total: "期间新增", from: "起", to: "止", apply: "应用",
    within_limit: "期限内", due_soon: "即将到期", overdue: "已超期", escalated: "已上报上级",
    undelivered: "待送达", in_progress: "已确认/调查中", status: "状态", reason: "原因", any: "全部",
    place: "地区代码", gtin: "商品 GTIN", filter: "筛选", csv: "导出 CSV", id: "编号", opened: "立案时间",
    product: "商品", office: "承办机构", due: "确认期限", events: "查询次数", none: "没有符合条件的案件",
    evidence: "证据", deliveries: "送达记录", audit: "审计记录", escalations: "上报记录",
    acknowledge: "确认受理", investigate: "开始调查", close: "结案", outcome: "处理结果", note: "备注",
    form12315: "12315 举报表", json: "JSON", enterprise: "品牌企业", batch: "批号", code: "码",
    channel: "渠道", source: "来源（脱敏）", time: "时间", warnings: "提示", target: "对象", state: "状态",
    attempts: "尝试", actor: "操作人", action: "动作", back: "← 返回案件列表", refused: "无权访问",
    confirmed_counterfeit: "确认假冒", genuine: "正品", no_action: "不予处理", referred_to_police: "移送公安",
    open: "新立", delivered: "已送达", acknowledged: "已确认", investigating: "调查中", closed: "已结案",
    days: "个工作日", noPlace: "地点不明", actions: "处理",
  },
  en: {
    portal: "Regulator portal", dashboard: "Dashboard", cases: "Cases", footer: "Only cases within your jurisdiction · sources masked",
    lang: "中文", perDay: "New cases per day, by reason", byCity: "By city", topProducts: "Top products",
    ageing: "Unacknowledged cases against the 7-working-day limit", total: "Opened in range", from: "From", to: "To", apply: "Apply",
    within_limit: "Within limit", due_soon: "Due soon", overdue: "Overdue", escalated: "Escalated",
    undelivered: "Not yet delivered", in_progress: "Acknowledged / investigating", status: "Status", reason: "Reason", any: "Any",
    place: "Division code", gtin: "Product GTIN", filter: "Filter", csv: "Export CSV", id: "ID", opened: "Opened",
    product: "Product", office: "Office", due: "Acknowledge by", events: "Queries", none: "No cases match",
    evidence: "Evidence", deliveries: "Deliveries", audit: "Audit trail", escalations: "Escalations",
    acknowledge: "Acknowledge", investigate: "Investigate", close: "Close", outcome: "Outcome", note: "Note",
    form12315: "12315 form", json: "JSON", enterprise: "Brand owner", batch: "Batch", code: "Code",
    channel: "Channel", source: "Source (masked)", time: "Time", warnings: "Warnings", target: "To", state: "State",
    attempts: "Attempts", actor: "Actor", action: "Action", back: "← Back to cases", refused: "Refused",
    confirmed_counterfeit: "Confirmed counterfeit", genuine: "Genuine", no_action: "No action", referred_to_police: "Referred to police",
    open: "Open", delivered: "Delivered", acknowledged: "Acknowledged", investigating: "Investigating", closed: "Closed",
    days: "working days", noPlace: "unknown place", actions: "Actions",
  },
};
const REASONS = {
  excessive_queries: ["查询次数异常", "Queried too often"], clone_suspected: ["疑似复制码", "Cloned code"],
  not_activated: ["码未激活", "Not activated"], cancelled: ["已作废", "Cancelled"],
  batch_mismatch: ["批号不符", "Batch mismatch"], expiry_mismatch: ["有效期不符", "Expiry mismatch"],
  prefix_invalid: ["厂商代码无效", "Invalid prefix"], unknown_code: ["未登记的码", "Unknown code"],
  enumeration: ["批量猜码", "Enumeration"], consumer_report: ["消费者举报", "Consumer report"],
};
const STATUSES = ["open", "delivered", "acknowledged", "investigating", "closed"];
const OUTCOMES = ["confirmed_counterfeit", "genuine", "no_action", "referred_to_police"];
const BUCKETS = ["within_limit", "due_soon", "overdue", "escalated", "undelivered", "in_progress"];

let lang = localStorage.getItem("zhenwei.lang") === "en" ? "en" : "zh";
const t = k => (T[lang][k] !== undefined ? T[lang][k] : k);
const reasonLabel = r => (REASONS[r] ? REASONS[r][lang === "zh" ? 0 : 1] : r);

function h(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null) continue;
    e.appendChild(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

async function api(path, options) {
  const r = await fetch(path, Object.assign({ headers: { Accept: "application/json" } }, options || {}));
  const body = await r.json().catch(() => ({}));
  if (!r.ok) {
    const e = body.error || {};
    throw new Error(e.message ? `${e.message} (${e.code})` : `HTTP ${r.status}`);
  }
  return body;
}

const fmt = ms => {
  if (ms === null || ms === undefined) return "—";
  const d = new Date(ms + 8 * 3600 * 1000); // China time
  return d.toISOString().slice(0, 16).replace("T", " ");
};
const placeName = p => (p ? `${(lang === "zh" ? p.name_zh : p.name_en) || ""} ${p.code}` : t("noPlace"));

function setView(...nodes) {
  const v = document.getElementById("view");
  v.replaceChildren(...nodes.filter(n => n !== null && n !== undefined));
}

function fail(e) {
  setView(h("p", { class: "error", id: "error" }, String(e.message || e)));
}

// ---- dashboard ---------------------------------------------------------------------------

async function dashboard(params) {
  const q = new URLSearchParams();
  if (params.get("from")) q.set("from", params.get("from"));
  if (params.get("to")) q.set("to", params.get("to"));
  const d = await api(`/v1/regulator/dashboard?${q}`);
  const range = h("form", { class: "range", id: "range", onsubmit: ev => {
    ev.preventDefault();
    const f = new FormData(ev.target);
    location.hash = `#/dashboard?from=${f.get("from")}&to=${f.get("to")}`;
  } },
    h("label", {}, t("from"), " ", h("input", { type: "date", name: "from", value: d.from })),
    h("label", {}, t("to"), " ", h("input", { type: "date", name: "to", value: d.to })),
    h("button", { type: "submit" }, t("apply")));
  const a = d.ageing;
  const tiles = h("div", { class: "tiles" },
    h("div", { class: "tile total" }, h("span", { class: "n", id: "total" }, d.total), h("span", {}, t("total"))),
    BUCKETS.map(b => h("a", { class: `tile b-${b}`, id: `age-${b}`, href: `#/cases?bucket=${b}`, "data-ids": (a.cases[b] || []).join(",") },
      h("span", { class: "n" }, a[b]), h("span", {}, t(b)))));
  const counts = {};
  for (const p of d.per_day) counts[`${p.day}|${p.reason}`] = p.count;
  const perDay = Charts.stackedBars({
    days: d.days,
    series: d.reasons.map(r => ({ key: r, label: reasonLabel(r) })),
    value: (day, r) => counts[`${day}|${r}`] || 0,
    dayLabel: day => day.slice(5),
  }, t("perDay"));
  const cities = Charts.hbars(d.by_city.map(c => ({
    label: (lang === "zh" ? c.name_zh : c.name_en) || c.prefix || t("noPlace"),
    value: c.count,
    href: c.prefix ? `#/cases?within=${c.prefix}&from=${d.from}&to=${d.to}` : undefined,
  })), t("byCity"));
  const products = Charts.hbars(d.top_products.map(p => ({
    label: (p.name || p.gtin || "—").slice(0, 14),
    value: p.count,
    href: p.gtin ? `#/cases?gtin=${p.gtin}&from=${d.from}&to=${d.to}` : undefined,
  })), t("topProducts"));
  const ageing = Charts.ageingBar(BUCKETS.map(b => ({ key: b, label: t(b), value: a[b] })), t("ageing"));
  const legend = h("ul", { class: "legend" }, BUCKETS.map(b =>
    h("li", {}, h("span", { class: `sw b-${b}` }), `${t(b)} ${a[b]}`)));
  setView(
    h("section", { class: "head" }, h("h1", {}, t("dashboard")), range),
    tiles,
    h("section", { class: "card wide", id: "chart-ageing" }, h("h2", {}, t("ageing")), ageing, legend),
    h("section", { class: "card wide", id: "chart-per-day" }, h("h2", {}, t("perDay")), perDay,
      h("ul", { class: "legend" }, d.reasons.map((r, i) =>
        h("li", {}, h("span", { class: "sw", "data-colour": i }), reasonLabel(r))))),
    h("div", { class: "two" },
      h("section", { class: "card", id: "chart-city" }, h("h2", {}, t("byCity")), cities),
      h("section", { class: "card", id: "chart-products" }, h("h2", {}, t("topProducts")), products)),
  );
  // Swatch colours from the chart's palette (a style property, which the CSP allows).
  for (const sw of document.querySelectorAll("#chart-per-day .sw")) sw.style.background = Charts.seriesColour(Number(sw.dataset.colour));
  document.body.dataset.ready = "dashboard";
}

// ---- case list ---------------------------------------------------------------------------

async function caseList(params) {
  const q = new URLSearchParams();
  for (const k of ["status", "reason", "from", "to", "within", "gtin"]) if (params.get(k)) q.set(k, params.get(k));
  q.set("limit", "500");
  let cases = (await api(`/v1/regulator/cases?${q}`)).cases;
  const bucket = params.get("bucket");
  if (bucket) {
    const d = await api("/v1/regulator/dashboard");
    const ids = new Set(d.ageing.cases[bucket] || []);
    cases = cases.filter(c => ids.has(c.id));
  }
  const sel = (name, values, label) => h("select", { name, id: `f-${name}` },
    h("option", { value: "" }, t("any")),
    values.map(v => h("option", { value: v, selected: params.get(name) === v }, label(v))));
  const form = h("form", { class: "filters", id: "filters", onsubmit: ev => {
    ev.preventDefault();
    const f = new URLSearchParams();
    for (const [k, v] of new FormData(ev.target)) if (v) f.set(k, v);
    location.hash = `#/cases?${f}`;
  } },
    h("label", {}, t("status"), " ", sel("status", STATUSES, t)),
    h("label", {}, t("reason"), " ", sel("reason", Object.keys(REASONS), reasonLabel)),
    h("label", {}, t("from"), " ", h("input", { type: "date", name: "from", value: params.get("from") || "" })),
    h("label", {}, t("to"), " ", h("input", { type: "date", name: "to", value: params.get("to") || "" })),
    h("label", {}, t("place"), " ", h("input", { name: "within", id: "f-within", size: 6, inputmode: "numeric", value: params.get("within") || "" })),
    h("label", {}, t("gtin"), " ", h("input", { name: "gtin", id: "f-gtin", size: 14, inputmode: "numeric", value: params.get("gtin") || "" })),
    h("button", { type: "submit" }, t("filter")),
    h("a", { class: "button", id: "csv", href: `/v1/regulator/cases.csv?${q}`, download: "cases.csv" }, t("csv")));
  const rows = cases.map(c => h("tr", { "data-id": c.id, class: `s-${c.status}` },
    h("td", {}, h("a", { href: `#/case/${c.id}` }, `#${c.id}`)),
    h("td", {}, reasonLabel(c.reason)),
    h("td", {}, h("span", { class: `status s-${c.status}` }, t(c.status)), c.outcome ? ` · ${t(c.outcome)}` : ""),
    h("td", {}, c.place || "—"),
    h("td", {}, c.product_name || "—"),
    h("td", {}, c.regulator_name || "—"),
    h("td", {}, fmt(c.opened_at)),
    h("td", {}, fmt(c.due_at)),
    h("td", { class: "num" }, c.event_count)));
  setView(
    h("section", { class: "head" }, h("h1", {}, t("cases"), h("span", { class: "count", id: "case-count" }, cases.length))),
    form,
    cases.length ? h("table", { class: "cases", id: "cases" },
      h("thead", {}, h("tr", {}, ["id", "reason", "status", "place", "product", "office", "opened", "due", "events"].map(k => h("th", {}, t(k))))),
      h("tbody", {}, rows)) : h("p", { class: "empty", id: "cases-empty" }, t("none")));
  document.body.dataset.ready = "cases";
}

// ---- case page ---------------------------------------------------------------------------

async function casePage(id) {
  const [{ case: c, report: r }, hist] = await Promise.all([
    api(`/v1/regulator/cases/${id}`), api(`/v1/regulator/cases/${id}/history`)]);
  const note = h("input", { id: "note", name: "note", placeholder: t("note"), maxlength: 500 });
  const act = async (path, body) => {
    try {
      const text = note.value.trim();
      if (text) body.note = text;
      await api(`/v1/regulator/cases/${id}/${path}`, {
        method: "POST", headers: { "Content-Type": "application/json", Accept: "application/json" },
        body: JSON.stringify(body),
      });
      await casePage(id);
    } catch (e) {
      document.getElementById("action-error").textContent = String(e.message || e);
    }
  };
  const outcome = h("select", { id: "outcome" }, OUTCOMES.map(o => h("option", { value: o }, t(o))));
  const actions = h("div", { class: "actions" },
    h("button", { id: "btn-ack", type: "button", disabled: !["open", "delivered"].includes(c.status), onclick: () => act("acknowledge", {}) }, t("acknowledge")),
    h("button", { id: "btn-investigate", type: "button", disabled: c.status !== "acknowledged", onclick: () => act("status", { status: "investigating" }) }, t("investigate")),
    outcome,
    h("button", { id: "btn-close", type: "button", disabled: c.status === "closed", onclick: () => act("outcome", { outcome: outcome.value }) }, t("close")),
    note,
    h("a", { class: "button", id: "btn-12315", href: `/v1/regulator/cases/${id}/12315?format=html`, target: "_blank", rel: "noopener" }, t("form12315")),
    h("a", { class: "button quiet", href: `/v1/regulator/cases/${id}/12315` }, t("json")),
    h("p", { class: "error", id: "action-error" }));
  const dl = (pairs) => h("dl", { class: "facts" }, pairs.map(([k, v]) => [h("dt", {}, t(k)), h("dd", {}, v)]));
  const table = (cls, head, rows) => rows.length ? h("table", { class: cls }, h("thead", {}, h("tr", {}, head.map(k => h("th", {}, t(k))))), h("tbody", {}, rows)) : h("p", { class: "empty" }, "—");
  setView(
    h("p", {}, h("a", { href: "#/cases" }, t("back"))),
    h("section", { class: "head" }, h("h1", {}, `#${c.id} ${reasonLabel(c.reason)}`),
      h("span", { class: `status big s-${c.status}`, id: "case-status", "data-status": c.status }, t(c.status), c.outcome ? ` · ${t(c.outcome)}` : "")),
    h("div", { class: "two" },
      h("section", { class: "card" }, dl([
        ["place", placeName(r.case.place)],
        ["office", r.case.office ? `${r.case.office.name} (${r.case.office.prefix || "national"})` : "—"],
        ["product", r.product ? `${r.product.name} · ${r.product.gtin}` : "—"],
        ["batch", r.batch ? r.batch.lot : "—"],
        ["code", r.case.code.value || r.case.code.family],
        ["enterprise", r.enterprise ? r.enterprise.name : "—"],
        ["opened", fmt(c.opened_at)],
        ["due", fmt(c.due_at)],
        ["events", c.event_count],
      ])),
      h("section", { class: "card" }, h("h2", {}, t("actions")), actions)),
    h("section", { class: "card wide" }, h("h2", {}, t("evidence")),
      table("evidence", ["time", "channel", "place", "source", "warnings"], r.evidence.map(e => h("tr", {},
        h("td", {}, e.at_china), h("td", {}, e.channel), h("td", {}, placeName(e.place)),
        h("td", { class: "mono" }, e.source), h("td", {}, (e.warnings || []).join(", ")))))),
    h("section", { class: "card wide" }, h("h2", {}, t("deliveries")),
      table("deliveries", ["time", "action", "target", "state", "attempts"], hist.deliveries.map(d => h("tr", {},
        h("td", {}, fmt(d.created_at)), h("td", {}, d.event), h("td", {}, `${d.target_kind}: ${d.target_name || "—"}`),
        h("td", {}, h("span", { class: `dstate d-${d.state}` }, d.state), d.last_error ? ` (${d.last_error})` : ""),
        h("td", { class: "num" }, d.attempts))))),
    hist.escalations.length ? h("section", { class: "card wide" }, h("h2", {}, t("escalations")),
      table("escalations", ["time", "office", "due"], hist.escalations.map(x => h("tr", {},
        h("td", {}, fmt(x.at)), h("td", {}, `${x.from_prefix || "—"} → ${x.to_name || ""} ${x.to_prefix || "national"}`), h("td", {}, fmt(x.due_at)))))) : null,
    h("section", { class: "card wide" }, h("h2", {}, t("audit")),
      table("audit", ["time", "actor", "action", "note"], hist.audit.map(a => {
        let detail = "";
        try { const d = JSON.parse(a.detail); detail = [d.from && `${d.from} → ${d.to}`, d.outcome, d.note].filter(Boolean).join(" · "); } catch (_) { detail = ""; }
        return h("tr", {}, h("td", {}, fmt(a.at)), h("td", {}, a.actor), h("td", {}, a.action), h("td", {}, detail));
      }))),
  );
  document.body.dataset.ready = `case-${c.id}-${c.status}`;
}

// ---- routing -----------------------------------------------------------------------------

function translateStatic() {
  document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
  for (const e of document.querySelectorAll("[data-t]")) e.textContent = t(e.dataset.t);
  document.getElementById("lang").textContent = t("lang");
}

async function route() {
  delete document.body.dataset.ready;
  translateStatic();
  const hash = location.hash || "#/dashboard";
  const [path, query] = hash.slice(1).split("?");
  const params = new URLSearchParams(query || "");
  for (const n of document.querySelectorAll("nav a")) n.classList.toggle("on", hash.startsWith(n.getAttribute("href")));
  try {
    const m = path.match(/^\/case\/(\d+)$/);
    if (m) await casePage(m[1]);
    else if (path === "/cases") await caseList(params);
    else await dashboard(params);
  } catch (e) {
    fail(e);
    document.body.dataset.ready = "error";
  }
}

async function start() {
  document.getElementById("lang").addEventListener("click", () => {
    lang = lang === "zh" ? "en" : "zh";
    localStorage.setItem("zhenwei.lang", lang);
    route();
  });
  window.addEventListener("hashchange", route);
  try {
    const me = await api("/v1/regulator/me");
    document.getElementById("office").textContent = `${me.office} · ${me.prefix || "national"} · ${me.name}`;
    document.body.dataset.prefix = me.prefix;
  } catch (e) {
    document.getElementById("office").textContent = t("refused");
  }
  await route();
}

document.addEventListener("DOMContentLoaded", start);
