// zhenwei kiosk screen: draws what the agent pushes (Server-Sent Events from /api/events).
//
// Plain browser JavaScript, no build step, nothing fetched from anywhere but the agent.
// Everything taken from a verdict is inserted with textContent, never parsed as HTML.
// The agent decides what is on screen (idle, checking, verdict, offline, unreadable) and when to
// go back to idle; this script only draws it and sends the "report this product" press.
//
// Attributes the end-to-end test reads: #screen[data-screen][data-tone][data-version],
// #report (the button), #report-status[data-state][data-case].
"use strict";

(function () {
  // Words of the screen, in both languages: the kiosk's main language is large, the other one
  // is a smaller second line under headlines.
  var T = {
    zh: {
      htmlLang: "zh-CN",
      invite: "请扫描商品上的防伪码",
      inviteHint: "二维码、数据矩阵码或条形码，对准下方扫描窗口",
      checking: "正在查询…",
      headline: {
        genuine: "正品",
        warning: "正品，但请注意",
        suspect: "疑似假冒",
        unknown: "未查到此码",
        invalid: "无法识别的号码"
      },
      offline: "暂时无法连接查询服务",
      offlineCall: function (hotline) { return "请拨打热线 " + hotline + " 查询"; },
      offlineSms: function (sms) { return "或将防伪码以短信发送至 " + sms; },
      unreadable: "未能读取，请重新扫描",
      firstQuery: "首次查询",
      repeat: function (n, at, city) {
        return "已查询 " + n + " 次，首次于 " + at + "（北京时间）" + (city ? "，" + city : "");
      },
      facts: { history: "查询记录", lot: "批号", expiry: "有效期至", spec: "规格", code: "防伪码" },
      warningsTitle: "注意",
      reasonsTitle: "原因",
      todoTitle: "怎么办",
      todoSuspect: ["请勿购买或使用此商品，保留商品和购物凭证。", "可按下方按钮举报，或拨打 12315。"],
      stopUsing: "请立即停止使用。",
      caseNo: function (id) { return "案件编号：" + id; },
      report: "举报此商品",
      reportSending: "正在提交举报…",
      reportFiled: function (id) { return "举报已受理，案件编号 " + id; },
      reportQueued: "举报已保存，服务恢复后将自动提交",
      reportRefused: "无法举报此号码",
      recheck: "请核对标签上的号码后重新扫描。",
      linkLost: "屏幕与本机程序断开，正在重连…"
    },
    en: {
      htmlLang: "en",
      invite: "Scan the anti-counterfeit code on the product",
      inviteHint: "QR code, DataMatrix or barcode, held under the scanner window",
      checking: "Checking…",
      headline: {
        genuine: "Genuine",
        warning: "Genuine, but take note",
        suspect: "Suspected counterfeit",
        unknown: "Code not found",
        invalid: "Not a code we can check"
      },
      offline: "The verification service cannot be reached",
      offlineCall: function (hotline) { return "Call the hotline " + hotline; },
      offlineSms: function (sms) { return "or text the code to " + sms; },
      unreadable: "Could not read that, please scan again",
      firstQuery: "First check of this code",
      repeat: function (n, at, city) {
        return "Checked " + n + " times; first on " + at + " (China time)" + (city ? " in " + city : "");
      },
      facts: { history: "History", lot: "Lot", expiry: "Expiry date", spec: "Size", code: "Code" },
      warningsTitle: "Take note",
      reasonsTitle: "Why",
      todoTitle: "What to do",
      todoSuspect: ["Do not buy or use it; keep the product and your receipt.", "Report it with the button below, or call 12315."],
      stopUsing: "Stop using it now.",
      caseNo: function (id) { return "Case number " + id; },
      report: "Report this product",
      reportSending: "Sending your report…",
      reportFiled: function (id) { return "Report filed: case number " + id; },
      reportQueued: "Report saved; it will be sent when the service is back",
      reportRefused: "This code cannot be reported",
      recheck: "Please check the code on the label and scan again.",
      linkLost: "Screen lost its agent; reconnecting…"
    }
  };

  var WARNINGS = {
    repeat_query: { zh: "此码曾被查询过", en: "Checked before" },
    excessive_queries: { zh: "查询次数异常多", en: "Checked unusually often" },
    clone_suspected: { zh: "疑似被复制（多地查询）", en: "May have been copied (checked in several places)" },
    not_activated: { zh: "此码未激活", en: "Code never activated" },
    cancelled: { zh: "此码已注销", en: "Code cancelled" },
    batch_mismatch: { zh: "批号与登记不符", en: "Lot number does not match" },
    expiry_mismatch: { zh: "有效期与登记不符", en: "Expiry date does not match" },
    expired: { zh: "已过有效期", en: "Past its expiry date" },
    recalled: { zh: "该批次已召回", en: "This batch is recalled" },
    spot_check_failed: { zh: "监督抽查不合格", en: "Failed an official quality spot check" },
    certificate_invalid: { zh: "CCC 认证证书已失效", en: "CCC certificate no longer valid" },
    licence_invalid: { zh: "许可证已失效", en: "Licence no longer valid" },
    enterprise_blacklisted: { zh: "生产企业列入严重违法失信名单", en: "Manufacturer on the serious-violator list" },
    prefix_invalid: { zh: "厂商识别代码无效", en: "Manufacturer prefix not valid" }
  };

  var NOTICE_OF = {
    recalled: "recall",
    spot_check_failed: "spot_check",
    certificate_invalid: "ccc",
    licence_invalid: "licence",
    enterprise_blacklisted: "blacklist"
  };

  var ICONS = {
    idle: "M3 5h2v14H3zm3 0h1v14H6zm2 0h3v14H8zm4 0h1v14h-1zm3 0h2v14h-2zm3 0h1v14h-1zm2 0h1v14h-1z",
    genuine: "M9 16.2 4.8 12l-1.4 1.4L9 19 21 7l-1.4-1.4z",
    warning: "M1 21h22L12 2 1 21zm12-3h-2v-2h2v2zm0-4h-2v-4h2v4z",
    suspect: "M12 2a10 10 0 1 0 0 20 10 10 0 0 0 0-20zm5 13.6L15.6 17 12 13.4 8.4 17 7 15.6 10.6 12 7 8.4 8.4 7 12 10.6 15.6 7 17 8.4 13.4 12z",
    unknown: "M11 18h2v-2h-2v2zm1-16a10 10 0 1 0 0 20 10 10 0 0 0 0-20zm0 18a8 8 0 1 1 0-16 8 8 0 0 1 0 16zm0-14a4 4 0 0 0-4 4h2a2 2 0 1 1 4 0c0 2-3 1.75-3 5h2c0-2.25 3-2.5 3-5a4 4 0 0 0-4-4z",
    invalid: "M12 2a10 10 0 1 0 0 20 10 10 0 0 0 0-20zm1 15h-2v-2h2v2zm0-4h-2V7h2v6z",
    offline: "M12 4C7.3 4 3.1 5.8 0 8.8L12 21 24 8.8C20.9 5.8 16.7 4 12 4zm1 13h-2v-2h2v2zm0-4h-2V8h2v5z"
  };

  var info = { language: "zh", hotline: "12315", sms: "12315", store: null };
  var lang = "zh";
  var other = "en";
  var screen, store, link;
  var lastVersion = -1;

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }

  function icon(name) {
    var ns = "http://www.w3.org/2000/svg";
    var svg = document.createElementNS(ns, "svg");
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("aria-hidden", "true");
    svg.setAttribute("class", "icon");
    var path = document.createElementNS(ns, "path");
    path.setAttribute("d", ICONS[name] || ICONS.invalid);
    path.setAttribute("fill", "currentColor");
    svg.appendChild(path);
    return svg;
  }

  // A headline in the main language with the other language beneath it.
  function headline(main, second) {
    var h = el("h1", "headline");
    h.appendChild(el("span", "main", main));
    if (second && second !== main) {
      var s = el("span", "second", second);
      s.setAttribute("lang", T[other].htmlLang);
      h.appendChild(s);
    }
    return h;
  }

  function t() { return T[lang]; }

  // "YYYY-MM-DD HH:MM" in China Standard Time (UTC+8), whatever the kiosk PC's zone.
  function chinaTime(ms) {
    var d = new Date(Number(ms) + 8 * 3600 * 1000);
    if (isNaN(d.getTime())) return "";
    function two(n) { return (n < 10 ? "0" : "") + n; }
    return d.getUTCFullYear() + "-" + two(d.getUTCMonth() + 1) + "-" + two(d.getUTCDate()) +
      " " + two(d.getUTCHours()) + ":" + two(d.getUTCMinutes());
  }

  function pick(zh, en) { return lang === "en" && en ? en : zh; }

  function band(kind, main, second) {
    var b = el("div", "band");
    b.appendChild(icon(kind));
    b.appendChild(headline(main, second));
    return b;
  }

  function drawIdle() {
    var c = el("section", "panel panel-idle");
    c.appendChild(icon("idle"));
    c.appendChild(headline(t().invite, T[other].invite));
    var hint = el("p", "hint", t().inviteHint);
    c.appendChild(hint);
    var hint2 = el("p", "hint second", T[other].inviteHint);
    hint2.setAttribute("lang", T[other].htmlLang);
    c.appendChild(hint2);
    return c;
  }

  function drawChecking() {
    var c = el("section", "panel panel-checking");
    c.appendChild(headline(t().checking, T[other].checking));
    return c;
  }

  function drawUnreadable() {
    var c = el("section", "panel panel-invalid");
    c.appendChild(band("invalid", t().unreadable, T[other].unreadable));
    return c;
  }

  function noticeAdvice(v, kind) {
    var list = v.notices || [];
    for (var i = 0; i < list.length; i++) {
      if (list[i].kind === kind) {
        var a = lang === "en" ? list[i].advice_en : list[i].advice_zh;
        if (a) return a;
      }
    }
    return null;
  }

  function warningDetail(v, w) {
    if (NOTICE_OF[w]) {
      var a = noticeAdvice(v, NOTICE_OF[w]);
      if (a) return a;
      return w === "recalled" ? t().stopUsing : null;
    }
    return null;
  }

  function historyLine(v) {
    if (v.first_query) return t().firstQuery;
    if (!v.query_count) return null;
    var at = v.first_queried_at != null ? chinaTime(v.first_queried_at) : "";
    return t().repeat(v.query_count, at, v.first_queried_city);
  }

  function fact(dl, label, value) {
    if (value === undefined || value === null || value === "") return;
    var row = el("div", "fact");
    row.appendChild(el("dt", null, label));
    row.appendChild(el("dd", null, value));
    dl.appendChild(row);
  }

  function groupCode(code) {
    return /^\d{20}$/.test(code) ? code.replace(/(\d{4})(?=\d)/g, "$1 ") : code;
  }

  // The report button or what became of the report.
  function drawReport(view) {
    var r = view.report || { state: "none" };
    if (r.state === "none") return null;
    var box = el("div", "report");
    if (r.state === "offered") {
      var b = el("button", "report-button", t().report);
      b.id = "report";
      b.type = "button";
      var second = el("span", "second", T[other].report);
      second.setAttribute("lang", T[other].htmlLang);
      b.appendChild(second);
      b.addEventListener("click", function () {
        b.disabled = true;
        fetch("/api/report", {
          method: "POST",
          headers: { "Content-Type": "application/json" },
          body: JSON.stringify({ scan: view.scan })
        }).catch(function () { b.disabled = false; });
      });
      box.appendChild(b);
      return box;
    }
    var text = {
      sending: t().reportSending,
      filed: t().reportFiled(r.case_id),
      queued: t().reportQueued,
      refused: t().reportRefused
    }[r.state];
    var p = el("p", "report-status", text);
    p.id = "report-status";
    p.setAttribute("data-state", r.state);
    if (r.case_id != null) p.setAttribute("data-case", String(r.case_id));
    box.appendChild(p);
    return box;
  }

  function drawVerdict(view) {
    var v = view.verdict || {};
    var tone = view.tone;
    var s = t();
    var c = el("section", "panel panel-" + tone);
    var head = s.headline[tone];
    c.appendChild(band(tone, head, T[other].headline[tone]));
    var body = el("div", "body");
    c.appendChild(body);

    var product = v.product ? pick(v.product.name, v.product.name_en) : null;
    var enterprise = v.enterprise ? pick(v.enterprise.name, v.enterprise.name_en) : null;
    if (product && tone !== "invalid") {
      var who = el("p", "product-line");
      who.appendChild(el("span", "product-name", product));
      if (enterprise) who.appendChild(el("span", "enterprise-name", enterprise));
      body.appendChild(who);
    }

    var ws = (v.warnings || []).filter(function (w) { return w !== "repeat_query" || tone !== "genuine"; });
    if (ws.length) {
      var box = el("div", "warnings");
      box.appendChild(el("h2", null, tone === "suspect" ? s.reasonsTitle : s.warningsTitle));
      var ul = el("ul");
      ws.forEach(function (w) {
        var li = el("li");
        li.setAttribute("data-warning", w);
        li.appendChild(el("strong", null, WARNINGS[w] ? WARNINGS[w][lang] : w));
        var d = warningDetail(v, w);
        if (d) li.appendChild(el("span", "detail", d));
        ul.appendChild(li);
      });
      box.appendChild(ul);
      body.appendChild(box);
    }

    if (tone === "suspect") {
      var todo = el("div", "todo");
      todo.appendChild(el("h2", null, s.todoTitle));
      var tl = el("ul");
      s.todoSuspect.forEach(function (line) { tl.appendChild(el("li", null, line)); });
      if (v.case_id != null) tl.appendChild(el("li", "case", s.caseNo(v.case_id)));
      todo.appendChild(tl);
      body.appendChild(todo);
    } else if (tone === "unknown" || tone === "invalid") {
      if (v.message) body.appendChild(el("p", "message", v.message));
      else body.appendChild(el("p", "message", s.recheck));
    }

    var dl = el("dl", "facts");
    if (tone === "genuine" || tone === "warning" || tone === "suspect") {
      fact(dl, s.facts.history, historyLine(v));
    }
    if (v.batch) {
      fact(dl, s.facts.lot, v.batch.lot);
      fact(dl, s.facts.expiry, v.batch.expiry_date);
    }
    if (v.product) fact(dl, s.facts.spec, v.product.spec);
    if (v.code && v.family !== "gtin") fact(dl, s.facts.code, groupCode(v.code));
    if (dl.childNodes.length) body.appendChild(dl);

    var report = drawReport(view);
    if (report) c.appendChild(report);
    return c;
  }

  function drawOffline(view) {
    var s = t();
    var c = el("section", "panel panel-offline");
    c.appendChild(band("offline", s.offline, T[other].offline));
    var body = el("div", "body");
    var call = el("p", "offline-call", s.offlineCall(info.hotline));
    body.appendChild(call);
    body.appendChild(el("p", "offline-sms", s.offlineSms(info.sms)));
    var en = el("p", "second", T[other].offlineCall(info.hotline) + " " + T[other].offlineSms(info.sms));
    en.setAttribute("lang", T[other].htmlLang);
    body.appendChild(en);
    c.appendChild(body);
    var report = drawReport(view);
    if (report) c.appendChild(report);
    return c;
  }

  function draw(view) {
    if (typeof view.version !== "number" || view.version === lastVersion) return;
    lastVersion = view.version;
    var node;
    switch (view.screen) {
      case "idle": node = drawIdle(); break;
      case "checking": node = drawChecking(); break;
      case "verdict": node = drawVerdict(view); break;
      case "offline": node = drawOffline(view); break;
      default: node = drawUnreadable(); break;
    }
    screen.replaceChildren(node);
    screen.setAttribute("data-screen", view.screen || "unreadable");
    if (view.tone) screen.setAttribute("data-tone", view.tone);
    else screen.removeAttribute("data-tone");
    screen.setAttribute("data-version", String(view.version));
  }

  function connect() {
    var es = new EventSource("/api/events");
    es.addEventListener("view", function (ev) {
      link.setAttribute("data-state", "live");
      link.textContent = "";
      try { draw(JSON.parse(ev.data)); } catch (e) { /* a bad frame: wait for the next */ }
    });
    es.onerror = function () {
      link.setAttribute("data-state", "lost");
      link.textContent = t().linkLost;
    };
  }

  function start() {
    screen = document.getElementById("screen");
    store = document.getElementById("store");
    link = document.getElementById("link");
    fetch("/api/info", { cache: "no-store" })
      .then(function (r) { return r.json(); })
      .then(function (i) { info = i; })
      .catch(function () { /* defaults */ })
      .then(function () {
        lang = info.language === "en" ? "en" : "zh";
        other = lang === "en" ? "zh" : "en";
        document.documentElement.lang = T[lang].htmlLang;
        if (info.store) store.textContent = info.store;
        connect();
      });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
