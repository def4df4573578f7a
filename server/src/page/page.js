// zhenwei public query page: type or paste a code, POST it to /v1/verify, show the verdict.
//
// Plain browser JavaScript, no build step, no external resources. Everything taken from the
// server's answer is inserted with textContent, never parsed as HTML. The verdict fields are
// documented in /openapi.json's `Verdict` schema (repository file openapi.json).
//
// The result element (#result) carries two attributes the end-to-end test reads:
//   data-state    idle | loading | genuine | warning | suspect | unknown | invalid | error
//   data-answered how many answers (or local prompts) have been shown so far
"use strict";

(function () {
  var STORE_KEY = "zhenwei.lang";
  var TIMEOUT_MS = 20000;

  // Static texts of the page, by the data-t key of their element, and the texts of results.
  var T = {
    zh: {
      htmlLang: "zh-CN",
      docTitle: "真伪查询 · zhenwei",
      title: "真伪查询",
      label: "防伪码",
      hint: "输入或粘贴标签上的防伪码：20 位数字（可带空格或横线）、GS1 链接、刮开式密码或商品条码。",
      button: "查询",
      footer: "每件商品的防伪码都是唯一的。查询结果仅针对所输入的号码。消费者投诉举报电话：12315。",
      toggle: "EN",
      toggleLang: "en",
      toggleLabel: "Switch to English",
      checking: "正在查询…",
      empty: "请先输入防伪码。",
      headline: {
        genuine: "正品",
        warning: "正品，但请注意",
        suspect: "疑似假冒",
        unknown: "未查到此码",
        barcode: "这是商品条码",
        unissued: "无法验证此码",
        invalid: "无法识别的号码",
        error: "暂时无法查询"
      },
      facts: {
        history: "查询记录",
        spec: "规格",
        gtin: "商品条码",
        lot: "批号",
        expiry: "有效期至",
        code: "查询号码",
        prefix: "厂商识别代码"
      },
      prefix: {
        registered: "已注册",
        expired: "已过期",
        cancelled: "已注销",
        unregistered: "未注册"
      },
      firstQuery: "首次查询",
      repeat: function (n, at, city) {
        return "已查询 " + n + " 次，首次于 " + at + "（北京时间）" + (city ? "，" + city : "");
      },
      warningsTitle: "注意",
      reasonsTitle: "原因",
      stopUsing: "请立即停止使用。",
      expiredOn: function (d) { return "有效期至 " + d + "，请勿使用。"; },
      todoTitle: "怎么办",
      todoSuspect: [
        "请勿使用此商品，保留商品和购物凭证（发票或小票）。",
        "拨打 12315 或登录 www.12315.cn 投诉举报。"
      ],
      caseNo: function (id) { return "案件编号：" + id + "（举报时请提供）。"; },
      recheck: "未查到此码，请核对标签上的号码后重新输入。",
      reason: "原因：",
      codeHelp: "防伪码为 20 位数字，印在标签上，常分为 5 组、每组 4 位。",
      network: "无法连接查询服务，请检查网络后重试。",
      timeout: "查询服务没有及时应答，请稍后重试。",
      badAnswer: function (status) { return "查询服务返回了无法识别的应答（HTTP " + status + "）。请稍后重试。"; },
      errorCode: "错误代码：",
      apiRefused: "查询服务未能处理此请求。"
    },
    en: {
      htmlLang: "en",
      docTitle: "Is it genuine? · zhenwei",
      title: "Is it genuine?",
      label: "Anti-counterfeit code",
      hint: "Type or paste the code from the label: 20 digits (spaces or dashes are fine), a GS1 link, a scratch-off PIN or a product barcode.",
      button: "Check",
      footer: "Every item has its own code. The answer is about the code you entered. Consumer complaints hotline: 12315.",
      toggle: "中文",
      toggleLang: "zh",
      toggleLabel: "切换到中文",
      checking: "Checking…",
      empty: "Please enter a code first.",
      headline: {
        genuine: "Genuine",
        warning: "Genuine, but take note",
        suspect: "Suspected counterfeit",
        unknown: "Code not found",
        barcode: "This is a product barcode",
        unissued: "Code not recognised",
        invalid: "Not a code we can check",
        error: "Could not check the code"
      },
      facts: {
        history: "History",
        spec: "Size",
        gtin: "Barcode (GTIN)",
        lot: "Lot",
        expiry: "Expiry date",
        code: "Code checked",
        prefix: "Manufacturer prefix"
      },
      prefix: {
        registered: "registered",
        expired: "expired",
        cancelled: "cancelled",
        unregistered: "not registered"
      },
      firstQuery: "First check of this code",
      repeat: function (n, at, city) {
        return "Checked " + n + " times; first on " + at + " (China time)" + (city ? " in " + city : "");
      },
      warningsTitle: "Take note",
      reasonsTitle: "Why",
      stopUsing: "Stop using it now.",
      expiredOn: function (d) { return "Expired on " + d + "; do not use it."; },
      todoTitle: "What to do",
      todoSuspect: [
        "Do not use the product; keep it and your receipt.",
        "Call 12315 or report it at www.12315.cn."
      ],
      caseNo: function (id) { return "Case number " + id + " (quote it when you report)."; },
      recheck: "We could not find this code. Please check it against the label and enter it again.",
      reason: "Reason: ",
      codeHelp: "The anti-counterfeit code has 20 digits, printed on the label, usually in five groups of four.",
      network: "Could not reach the verification service. Check your connection and try again.",
      timeout: "The verification service did not answer in time. Please try again.",
      badAnswer: function (status) { return "The verification service gave an answer we could not read (HTTP " + status + "). Please try again."; },
      errorCode: "Error code: "
    }
  };

  // A human label for every warning the server can send (Verdict.warnings).
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

  // Chinese words for the API errors a visitor can meet (the server's messages are English).
  var API_ERRORS_ZH = {
    unavailable: "查询服务暂时不可用，请稍后重试。",
    body_too_large: "输入的内容太长，请只输入标签上的防伪码。"
  };

  // Which notice kind (Verdict.notices[].kind) explains which warning.
  var NOTICE_OF = {
    recalled: "recall",
    spot_check_failed: "spot_check",
    certificate_invalid: "ccc",
    licence_invalid: "licence",
    enterprise_blacklisted: "blacklist"
  };

  // Icons (constant SVG paths, 24×24): drawn with createElementNS, decorative only.
  var ICONS = {
    genuine: "M9 16.2 4.8 12l-1.4 1.4L9 19 21 7l-1.4-1.4z",
    warning: "M1 21h22L12 2 1 21zm12-3h-2v-2h2v2zm0-4h-2v-4h2v4z",
    suspect: "M12 2a10 10 0 1 0 0 20 10 10 0 0 0 0-20zm5 13.6L15.6 17 12 13.4 8.4 17 7 15.6 10.6 12 7 8.4 8.4 7 12 10.6 15.6 7 17 8.4 13.4 12z",
    unknown: "M11 18h2v-2h-2v2zm1-16a10 10 0 1 0 0 20 10 10 0 0 0 0-20zm0 18a8 8 0 1 1 0-16 8 8 0 0 1 0 16zm0-14a4 4 0 0 0-4 4h2a2 2 0 1 1 4 0c0 2-3 1.75-3 5h2c0-2.25 3-2.5 3-5a4 4 0 0 0-4-4z",
    invalid: "M12 2a10 10 0 1 0 0 20 10 10 0 0 0 0-20zm1 15h-2v-2h2v2zm0-4h-2V7h2v6z",
    error: "M12 2a10 10 0 1 0 0 20 10 10 0 0 0 0-20zm1 15h-2v-2h2v2zm0-4h-2V7h2v6z"
  };

  var lang = initialLang();
  // What is on screen, so a language switch can draw it again without asking the server
  // (asking again would count as another query of the code).
  var shown = null;
  var busy = false;

  var form, input, button, toggle, result;

  function initialLang() {
    var q = null;
    try {
      q = new URLSearchParams(window.location.search).get("lang");
    } catch (e) { /* very old browser */ }
    if (q === "en" || q === "zh") return q;
    var saved = null;
    try { saved = window.localStorage.getItem(STORE_KEY); } catch (e) { /* storage disabled */ }
    return saved === "en" ? "en" : "zh";
  }

  function t() { return T[lang]; }

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
    svg.setAttribute("focusable", "false");
    svg.setAttribute("class", "icon");
    var path = document.createElementNS(ns, "path");
    path.setAttribute("d", ICONS[name] || ICONS.unknown);
    path.setAttribute("fill", "currentColor");
    svg.appendChild(path);
    return svg;
  }

  // "YYYY-MM-DD HH:MM" in China Standard Time (UTC+8, no daylight saving), whatever the
  // browser's own zone: the same form the server uses in its messages.
  function chinaTime(ms) {
    var d = new Date(Number(ms) + 8 * 3600 * 1000);
    if (isNaN(d.getTime())) return "";
    function two(n) { return (n < 10 ? "0" : "") + n; }
    return d.getUTCFullYear() + "-" + two(d.getUTCMonth() + 1) + "-" + two(d.getUTCDate()) +
      " " + two(d.getUTCHours()) + ":" + two(d.getUTCMinutes());
  }

  function applyStatic() {
    var s = t();
    document.documentElement.lang = s.htmlLang;
    document.title = s.docTitle;
    var nodes = document.querySelectorAll("[data-t]");
    for (var i = 0; i < nodes.length; i++) {
      var key = nodes[i].getAttribute("data-t");
      if (typeof s[key] === "string") nodes[i].textContent = s[key];
    }
    toggle.textContent = s.toggle;
    toggle.setAttribute("lang", s.toggleLang === "en" ? "en" : "zh-CN");
    toggle.setAttribute("aria-label", s.toggleLabel);
  }

  function setLang(next) {
    lang = next;
    try { window.localStorage.setItem(STORE_KEY, next); } catch (e) { /* storage disabled */ }
    try {
      var url = new URL(window.location.href);
      if (url.searchParams.has("lang")) {
        url.searchParams.set("lang", next);
        window.history.replaceState(null, "", url.toString());
      }
    } catch (e) { /* very old browser */ }
    applyStatic();
    if (shown) render(shown, false);
  }

  // ---- rendering -------------------------------------------------------------------------

  function stateOf(v) {
    switch (v.authenticity) {
      case "genuine": {
        var serious = (v.warnings || []).some(function (w) { return w !== "repeat_query"; });
        return serious ? "warning" : "genuine";
      }
      case "suspect": return "suspect";
      case "unknown": return "unknown";
      default: return "invalid";
    }
  }

  function headlineOf(v, state) {
    var h = t().headline;
    if (state === "unknown") {
      if (v.family === "gtin") return h.barcode;
      return v.recheck ? h.unknown : h.unissued;
    }
    return h[state];
  }

  function pick(zh, en) {
    return lang === "en" && en ? en : zh;
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
    var s = t();
    if (NOTICE_OF[w]) {
      var a = noticeAdvice(v, NOTICE_OF[w]);
      if (a) return a;
      if (w === "recalled") return s.stopUsing;
      return null;
    }
    if (w === "expired" && v.batch && v.batch.expiry_date) return s.expiredOn(v.batch.expiry_date);
    return null;
  }

  function historyLine(v) {
    var s = t();
    if (v.first_query) return s.firstQuery;
    if (!v.query_count) return null;
    var at = v.first_queried_at != null ? chinaTime(v.first_queried_at) : "";
    return s.repeat(v.query_count, at, v.first_queried_city);
  }

  function addFact(dl, label, value) {
    if (value === undefined || value === null || value === "") return;
    var row = el("div", "fact");
    row.appendChild(el("dt", null, label));
    row.appendChild(el("dd", null, value));
    dl.appendChild(row);
  }

  function card(state, headline) {
    var c = el("section", "card card-" + state);
    var band = el("div", "band");
    band.appendChild(icon(state));
    var h = el("h2", "headline", headline);
    h.id = "verdict-headline";
    band.appendChild(h);
    c.setAttribute("aria-labelledby", "verdict-headline");
    c.appendChild(band);
    var body = el("div", "body");
    c.appendChild(body);
    return { card: c, body: body };
  }

  function renderVerdict(v) {
    var s = t();
    var state = stateOf(v);
    var parts = card(state, headlineOf(v, state));
    var body = parts.body;

    var productName = v.product ? pick(v.product.name, v.product.name_en) : null;
    var enterpriseName = v.enterprise ? pick(v.enterprise.name, v.enterprise.name_en) : null;
    if (productName && state !== "invalid") {
      var who = el("p", "product-line");
      who.appendChild(el("span", "product-name", productName));
      if (enterpriseName) who.appendChild(el("span", "enterprise-name", enterpriseName));
      body.appendChild(who);
    }

    // The server's own advice, when it is in the language on screen (after a language switch
    // the page says what it can from the verdict's fields instead).
    var hasMessage = Boolean(v.message) && v.lang === lang;
    if (hasMessage) body.appendChild(el("p", "message", v.message));

    if (state === "invalid" && !hasMessage) {
      if (v.error && v.error.message) body.appendChild(el("p", "reason", s.reason + v.error.message));
      body.appendChild(el("p", "help", s.codeHelp));
    }

    var ws = v.warnings || [];
    if (ws.length) {
      var box = el("div", "warnings");
      box.appendChild(el("h3", null, state === "suspect" ? s.reasonsTitle : s.warningsTitle));
      var ul = el("ul");
      ws.forEach(function (w) {
        var li = el("li");
        li.setAttribute("data-warning", w);
        var label = WARNINGS[w] ? WARNINGS[w][lang] : w;
        li.appendChild(el("strong", null, label));
        // Details the server's message already gives are not repeated.
        var detail = warningDetail(v, w);
        if (detail && !(hasMessage && v.message.indexOf(detail) >= 0)) {
          li.appendChild(el("span", "detail", detail));
        }
        ul.appendChild(li);
      });
      box.appendChild(ul);
      body.appendChild(box);
    }

    var unissued = state === "unknown" && !v.recheck && v.family !== "gtin";
    if (state === "suspect" || unissued) {
      var todo = el("div", "todo");
      todo.appendChild(el("h3", null, s.todoTitle));
      var tl = el("ul");
      s.todoSuspect.forEach(function (line) { tl.appendChild(el("li", null, line)); });
      if (v.case_id != null) tl.appendChild(el("li", "case", s.caseNo(v.case_id)));
      todo.appendChild(tl);
      body.appendChild(todo);
    } else if (state === "unknown" && v.recheck && !hasMessage) {
      body.appendChild(el("p", "recheck", s.recheck));
    }

    var dl = el("dl", "facts");
    if (state === "genuine" || state === "warning" || state === "suspect") {
      addFact(dl, s.facts.history, historyLine(v));
    }
    // Product and manufacturer names are in the product line above.
    if (v.product) {
      addFact(dl, s.facts.spec, v.product.spec);
      addFact(dl, s.facts.gtin, v.product.gtin);
    }
    if (v.batch) {
      addFact(dl, s.facts.lot, v.batch.lot);
      addFact(dl, s.facts.expiry, v.batch.expiry_date);
    }
    if (v.family === "gtin" && v.prefix_status) {
      addFact(dl, s.facts.prefix, s.prefix[v.prefix_status] || v.prefix_status);
    }
    // A barcode is already shown as the product's GTIN.
    if (v.code && v.family !== "gtin") addFact(dl, s.facts.code, groupCode(v.code));
    if (dl.childNodes.length) body.appendChild(dl);

    return { state: state, node: parts.card };
  }

  // 20-digit supervision codes are easier to compare with the label in groups of four.
  function groupCode(code) {
    return /^\d{20}$/.test(code) ? code.replace(/(\d{4})(?=\d)/g, "$1 ") : code;
  }

  function renderProblem(kind, detail) {
    var s = t();
    var state = kind === "empty" ? "invalid" : "error";
    var parts = card(state, kind === "empty" ? s.empty : s.headline.error);
    var text;
    if (kind === "network") text = s.network;
    else if (kind === "timeout") text = s.timeout;
    else if (kind === "bad") text = s.badAnswer(detail.status);
    if (text) parts.body.appendChild(el("p", "message", text));
    if (kind === "api") {
      // The server's error messages are in English; in Chinese the page says it in its words.
      var own = lang === "zh" ? API_ERRORS_ZH[detail.code] || s.apiRefused : null;
      if (own) parts.body.appendChild(el("p", "message", own));
      if (detail.message && detail.message !== own) {
        parts.body.appendChild(el("p", own ? "reason" : "message", detail.message));
      }
      parts.body.appendChild(el("p", "error-code", s.errorCode + detail.code + " (HTTP " + detail.status + ")"));
    }
    return { state: state, node: parts.card };
  }

  // Draws `what` ({verdict} or {problem, detail}); `fresh` marks a new answer (counted in
  // data-answered) rather than a redraw after a language switch.
  function render(what, fresh) {
    var out = what.verdict ? renderVerdict(what.verdict) : renderProblem(what.problem, what.detail);
    shown = what;
    result.replaceChildren(out.node);
    result.setAttribute("data-state", out.state);
    result.removeAttribute("aria-busy");
    if (fresh) {
      var n = Number(result.getAttribute("data-answered") || "0") + 1;
      result.setAttribute("data-answered", String(n));
      revealResult();
    }
  }

  // On a phone the answer may start below the fold: bring its top into view.
  function revealResult() {
    var top = result.getBoundingClientRect().top;
    if (top < window.innerHeight * 0.6) return;
    var still = window.matchMedia && window.matchMedia("(prefers-reduced-motion: reduce)").matches;
    result.scrollIntoView({ block: "start", behavior: still ? "auto" : "smooth" });
  }

  function showLoading() {
    var p = el("p", "loading", t().checking);
    result.replaceChildren(p);
    result.setAttribute("data-state", "loading");
    result.setAttribute("aria-busy", "true");
  }

  // ---- talking to the server -------------------------------------------------------------

  function check(code) {
    busy = true;
    button.disabled = true;
    showLoading();
    var controller = typeof AbortController === "function" ? new AbortController() : null;
    var timedOut = false;
    var timer = setTimeout(function () {
      timedOut = true;
      if (controller) controller.abort();
    }, TIMEOUT_MS);
    var status = 0;
    fetch("/v1/verify", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ code: code, lang: lang }),
      signal: controller ? controller.signal : undefined,
      cache: "no-store"
    })
      .then(function (resp) {
        status = resp.status;
        return resp.json().catch(function () { return null; });
      })
      .then(function (body) {
        if (timedOut) throw new Error("timeout");
        if (status === 200 && body && typeof body.authenticity === "string") {
          render({ verdict: body }, true);
        } else if (body && body.error && typeof body.error.code === "string") {
          render({
            problem: "api",
            detail: { status: status, code: body.error.code, message: String(body.error.message || "") }
          }, true);
        } else {
          render({ problem: "bad", detail: { status: status } }, true);
        }
      })
      .catch(function () {
        render({ problem: timedOut ? "timeout" : "network" }, true);
      })
      .then(function () {
        clearTimeout(timer);
        busy = false;
        button.disabled = false;
      });
  }

  function onSubmit(ev) {
    ev.preventDefault();
    if (busy) return;
    var code = input.value.trim();
    if (!code) {
      render({ problem: "empty" }, true);
      input.focus();
      return;
    }
    check(code);
  }

  function start() {
    form = document.getElementById("check-form");
    input = document.getElementById("code");
    button = document.getElementById("check");
    toggle = document.getElementById("lang-toggle");
    result = document.getElementById("result");
    applyStatic();
    form.addEventListener("submit", onSubmit);
    toggle.addEventListener("click", function () {
      setLang(lang === "zh" ? "en" : "zh");
    });
    document.body.setAttribute("data-ready", "true");
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
