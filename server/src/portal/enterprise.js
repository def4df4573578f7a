// The enterprise portal: reads /v1/enterprise/* (the browser presents the operator's client
// certificate) and draws tables and a per-day, per-channel SVG chart. Every access decision is
// the API's; this script only shows what it was given.
"use strict";

const CHANNELS = ["kiosk", "sms", "ivr", "web", "cli"];
const COLORS = { kiosk: "#2563eb", sms: "#16a34a", ivr: "#d97706", web: "#7c3aed", cli: "#94a3b8" };

function el(tag, attrs, text) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  if (text !== undefined && text !== null) e.textContent = String(text);
  return e;
}

function svg(tag, attrs) {
  const e = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, String(v));
  return e;
}

async function get(path) {
  const r = await fetch(path, { credentials: "include" });
  const body = await r.json().catch(() => ({}));
  if (!r.ok) throw Object.assign(new Error(body.error ? body.error.message : r.statusText), { body });
  return body;
}

function china(ms) {
  if (!ms) return "";
  return new Date(ms + 8 * 3600e3).toISOString().slice(0, 16).replace("T", " ");
}

function fill(id, rows, cells) {
  const tbody = document.querySelector(`#${id} tbody`);
  tbody.replaceChildren();
  for (const row of rows) {
    const tr = el("tr");
    for (const c of cells(row)) {
      const [text, cls] = Array.isArray(c) ? c : [c, ""];
      tr.appendChild(el("td", cls ? { class: cls } : {}, text));
    }
    tbody.appendChild(tr);
  }
  if (!rows.length) {
    const tr = el("tr");
    tr.appendChild(el("td", { colspan: 9, class: "empty" }, "—"));
    tbody.appendChild(tr);
  }
  document.getElementById(`${id}-section`).hidden = false;
}

// Stacked bars: one per day of the window, one segment per channel.
function chart(stats) {
  const days = [];
  for (let d = new Date(stats.from + "T00:00:00Z"); d < new Date(stats.to + "T00:00:00Z");
       d = new Date(d.getTime() + 86400e3)) days.push(d.toISOString().slice(0, 10));
  const by = {};
  for (const x of stats.days) (by[x.date] = by[x.date] || {})[x.channel] = x.queries;
  const max = Math.max(1, ...days.map(d => Object.values(by[d] || {}).reduce((a, b) => a + b, 0)));
  const W = 900, H = 240, L = 40, B = 28, bw = (W - L - 10) / days.length;
  const s = svg("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": "queries per day by channel" });
  for (let i = 0; i <= 4; i++) {
    const y = H - B - (H - B - 10) * i / 4;
    s.appendChild(svg("line", { x1: L, x2: W - 5, y1: y, y2: y, stroke: "#e2e8f0" }));
    const t = svg("text", { x: L - 6, y: y + 4, "text-anchor": "end", "font-size": 11, fill: "#64748b" });
    t.textContent = Math.round(max * i / 4);
    s.appendChild(t);
  }
  days.forEach((d, i) => {
    let y = H - B;
    for (const c of CHANNELS) {
      const n = (by[d] || {})[c] || 0;
      if (!n) continue;
      const h = (H - B - 10) * n / max;
      y -= h;
      const r = svg("rect", { x: L + i * bw + 1, y, width: Math.max(1, bw - 2), height: h, fill: COLORS[c] });
      const title = svg("title");
      title.textContent = `${d} ${c}: ${n}`;
      r.appendChild(title);
      s.appendChild(r);
    }
    if (i % Math.ceil(days.length / 10) === 0) {
      const t = svg("text", { x: L + i * bw + bw / 2, y: H - 8, "text-anchor": "middle", "font-size": 11, fill: "#64748b" });
      t.textContent = d.slice(5);
      s.appendChild(t);
    }
  });
  const box = document.getElementById("chart");
  box.replaceChildren(s);
  const legend = el("div", { class: "legend" });
  for (const c of CHANNELS) {
    const item = el("span");
    item.appendChild(el("i", { class: `ch-${c}` }));
    item.appendChild(document.createTextNode(c));
    legend.appendChild(item);
  }
  box.appendChild(legend);
  document.getElementById("chart-section").hidden = false;
}

async function main() {
  let me;
  try {
    me = await get("/v1/enterprise/me");
  } catch (e) {
    const p = document.getElementById("refusal");
    p.textContent = e.message;
    p.hidden = false;
    document.getElementById("who").textContent = "";
    return;
  }
  const o = me.operator;
  document.getElementById("who").textContent =
    `${o.enterprise_name} (${o.credit_code}) · ${o.name} · ${o.role}`;
  if (!me.access) {
    const p = document.getElementById("refusal");
    p.textContent = `无访问权限 No access: ${me.refusal}`;
    p.hidden = false;
    return;
  }
  const [products, ranges, activations, stats, cases] = await Promise.all([
    get("/v1/enterprise/products"), get("/v1/enterprise/ranges"),
    get("/v1/enterprise/activations"), get("/v1/enterprise/statistics"),
    get("/v1/enterprise/cases"),
  ]);
  document.getElementById("total").textContent = stats.total;
  document.getElementById("suspect").textContent =
    stats.days.reduce((a, d) => a + d.suspect, 0);
  document.getElementById("open-cases").textContent =
    cases.cases.filter(c => c.status !== "closed").length;
  document.getElementById("product-count").textContent = products.products.length;
  document.getElementById("overview").hidden = false;
  chart(stats);
  fill("regions", stats.regions, r => [
    [r.name_zh ? `${r.name_zh} ${r.name_en || ""}` : "（未知 unknown）"], r.city,
    [r.queries, "num"], [r.suspect, "num"]]);
  fill("cases", cases.cases, c => [
    c.id, c.reason, [c.status, `status-${c.status}`], [c.outcome || "", `outcome-${c.outcome}`],
    c.place || "", c.regulator_name || "", c.product_name || "", china(c.opened_at)]);
  fill("products", products.products, p => [
    p.gtin, p.name, p.spec || "", [p.ranges, "num"], [p.batches, "num"]]);
  fill("ranges", ranges.ranges, r => [
    r.id, r.gtin, r.product_name, [r.size, "num"], r.purpose || "", china(r.requested_at)]);
  fill("activations", activations.activations, a => [
    a.range_id, `${a.start_serial}–${a.end_serial}`, a.state, a.lot || "",
    a.production_date || "", a.expiry_date || "", a.made_in || ""]);
  document.body.dataset.ready = "true";
}

main();
