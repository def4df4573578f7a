// Inline SVG charts for the regulator portal, drawn in the browser from the dashboard JSON.
// Built with DOM calls only (no innerHTML), so the strict Content-Security-Policy holds.
// Colours: the Okabe–Ito palette, distinguishable with the common colour-vision deficiencies;
// every bar also carries its number as text, so nothing depends on colour alone.
"use strict";

const Charts = (() => {
  const NS = "http://www.w3.org/2000/svg"; // the SVG namespace (a name, not fetched)
  const PALETTE = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000"];
  const AGEING = {
    within_limit: "#009E73", due_soon: "#E69F00", overdue: "#D55E00",
    escalated: "#CC79A7", undelivered: "#56B4E9", in_progress: "#0072B2",
  };

  function el(name, attrs, text) {
    const e = document.createElementNS(NS, name);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, String(v));
    if (text !== undefined) e.textContent = String(text);
    return e;
  }

  function svg(width, height, label) {
    const s = el("svg", { viewBox: `0 0 ${width} ${height}`, width: "100%", role: "img", "aria-label": label });
    s.appendChild(el("title", {}, label));
    return s;
  }

  // A whole-number tick step so that four steps cover v.
  function niceStep(v) {
    const raw = Math.max(1, Math.ceil(v / 4));
    const p = Math.pow(10, Math.floor(Math.log10(raw)));
    for (const m of [1, 2, 5, 10]) if (m * p >= raw) return m * p;
    return raw;
  }

  // Stacked bars: one bar per day, one segment per series (reason); the legend is the page's
  // (HTML wraps long labels, SVG text does not).
  // data: {days: [..], series: [{key, label}], value(day, key) -> n, dayLabel(day) -> text}
  function stackedBars(data, label) {
    const W = 720, H = 250, L = 40, R = 10, T = 22, B = 24;
    const s = svg(W, H, label);
    const totals = data.days.map(d => data.series.reduce((a, sr) => a + data.value(d, sr.key), 0));
    const step4 = niceStep(Math.max(1, ...totals));
    const max = step4 * 4;
    const ih = H - T - B, iw = W - L - R;
    const step = iw / Math.max(1, data.days.length);
    const bw = Math.max(4, step * 0.7);
    for (let i = 0; i <= 4; i++) {
      const v = (max / 4) * i, y = T + ih - (v / max) * ih;
      s.appendChild(el("line", { x1: L, x2: W - R, y1: y, y2: y, class: "grid" }));
      s.appendChild(el("text", { x: L - 6, y: y + 4, "text-anchor": "end", class: "axis" }, v));
    }
    data.days.forEach((d, i) => {
      let y = T + ih;
      const x = L + i * step + (step - bw) / 2;
      data.series.forEach((sr, si) => {
        const n = data.value(d, sr.key);
        if (!n) return;
        const h = (n / max) * ih;
        y -= h;
        const r = el("rect", { x, y, width: bw, height: h, fill: PALETTE[si % PALETTE.length], class: "seg" });
        r.appendChild(el("title", {}, `${d} · ${sr.label}: ${n}`));
        s.appendChild(r);
      });
      if (totals[i]) s.appendChild(el("text", { x: x + bw / 2, y: y - 3, "text-anchor": "middle", class: "val" }, totals[i]));
      if (data.days.length <= 16 || i % 2 === 0) {
        s.appendChild(el("text", { x: x + bw / 2, y: H - B + 16, "text-anchor": "middle", class: "axis" }, data.dayLabel(d)));
      }
    });
    return s;
  }

  // Horizontal bars, largest first. items: [{label, value, href?}]
  function hbars(items, label) {
    const row = 30, W = 520, L = 150, R = 50;
    const H = Math.max(1, items.length) * row + 8;
    const s = svg(W, H, label);
    const max = Math.max(1, ...items.map(i => i.value));
    items.forEach((it, i) => {
      const y = 4 + i * row, w = ((W - L - R) * it.value) / max;
      const g = el("g", { class: "hbar" });
      g.appendChild(el("text", { x: L - 8, y: y + 18, "text-anchor": "end", class: "label" }, it.label));
      const r = el("rect", { x: L, y: y + 4, width: Math.max(2, w), height: row - 10, fill: PALETTE[0] });
      r.appendChild(el("title", {}, `${it.label}: ${it.value}`));
      g.appendChild(r);
      g.appendChild(el("text", { x: L + Math.max(2, w) + 6, y: y + 18, class: "val" }, it.value));
      if (it.href) {
        const a = el("a", { href: it.href });
        a.appendChild(g);
        s.appendChild(a);
      } else {
        s.appendChild(g);
      }
    });
    return s;
  }

  // Ageing: one segmented bar of the unacknowledged cases against the limit.
  // buckets: [{key, label, value}]
  function ageingBar(buckets, label) {
    const W = 720, H = 56;
    const s = svg(W, H, label);
    const total = buckets.reduce((a, b) => a + b.value, 0);
    if (!total) {
      s.appendChild(el("rect", { x: 0, y: 8, width: W, height: 30, class: "empty" }));
      return s;
    }
    let x = 0;
    for (const b of buckets) {
      if (!b.value) continue;
      const w = (W * b.value) / total;
      const r = el("rect", { x, y: 8, width: w, height: 30, fill: AGEING[b.key] || PALETTE[7] });
      r.appendChild(el("title", {}, `${b.label}: ${b.value}`));
      s.appendChild(r);
      if (w > 24) s.appendChild(el("text", { x: x + w / 2, y: 28, "text-anchor": "middle", class: "onbar" }, b.value));
      x += w;
    }
    return s;
  }

  // The colour of series number i of stackedBars, for the page's legend.
  const seriesColour = i => PALETTE[i % PALETTE.length];

  return { stackedBars, hbars, ageingBar, seriesColour, AGEING, PALETTE };
})();
