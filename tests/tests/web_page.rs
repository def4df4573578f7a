//! The public query page (`GET /`, the internet channel): served with the right types and
//! caching, and — in a real headless Chromium driven over WebDriver — typing a demo code shows
//! the verdict in colour, icon and words, in Chinese and in English.
//!
//! The browser test needs Debian's `chromium` and `chromium-driver`; without them it is skipped
//! with a notice, except under `CI=true`, where it fails. Set `ZHENWEI_SCREENSHOTS=DIR` to keep
//! a PNG of every answer it sees (1280×800 and 390×844).
//!
//! Demo codes used here (this test binary has its own server): genuine 0, 1 and 2; recalled 0;
//! not_activated 0; a fresh random code.

use std::path::PathBuf;

use serde_json::Value;
use zhenwei_tests::webdriver::{browser_or_skip, Browser, ENTER};
use zhenwei_tests::{full_width, grouped, random_digits, shared_demo_server};

#[test]
fn page_and_assets_are_served() {
    let server = shared_demo_server();
    let page = server.http("GET", "/", None);
    assert_eq!(page.status, 200, "{}", page.text());
    assert_eq!(
        page.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    assert_eq!(page.header("cache-control"), Some("no-cache"));
    let csp = page.header("content-security-policy").unwrap_or_default();
    assert!(csp.contains("script-src 'self'"), "{csp}");
    assert_eq!(page.header("x-content-type-options"), Some("nosniff"));
    let html = page.text();
    assert!(html.contains(r#"<label for="code""#), "{html}");
    assert!(html.contains(r#"aria-live="polite""#), "{html}");

    // The page names its assets with a content tag; asked for that way they are cached for good.
    for (name, content_type) in [
        ("/page.css", "text/css; charset=utf-8"),
        ("/page.js", "text/javascript; charset=utf-8"),
    ] {
        let start = html
            .find(&format!("{name}?v="))
            .unwrap_or_else(|| panic!("the page does not refer to {name}?v=…: {html}"));
        let end = start + html[start..].find('"').expect("a closing quote");
        let url = &html[start..end];
        let r = server.http("GET", url, None);
        assert_eq!(r.status, 200, "{url}");
        assert_eq!(r.header("content-type"), Some(content_type), "{url}");
        assert_eq!(
            r.header("cache-control"),
            Some("public, max-age=31536000, immutable"),
            "{url}"
        );
        assert!(r.header("etag").is_some(), "{url}");
        // Without the current tag: revalidate.
        let r = server.http("GET", name, None);
        assert_eq!(r.header("cache-control"), Some("no-cache"), "{name}");
    }

    // Nothing is fetched from anywhere else: the page must work without internet.
    let css = server.http("GET", "/page.css", None).text();
    let js = server.http("GET", "/page.js", None).text();
    for (name, text) in [("index.html", &html), ("page.css", &css), ("page.js", &js)] {
        for bad in ["src=\"http", "href=\"http", "url(", "@import", "innerHTML"] {
            assert!(!text.contains(bad), "{name} contains {bad:?}");
        }
    }

    // Other methods: the one JSON error shape.
    let r = server.http("POST", "/", Some(b"{}"));
    assert_eq!(r.status, 405);
    assert_eq!(r.error_code(), "method_not_allowed");
    assert_eq!(r.header("allow"), Some("GET, HEAD"));
    let r = server.http("GET", "/index.htm", None);
    assert_eq!(r.status, 404);
    assert_eq!(r.error_code(), "not_found");
}

/// Where to keep screenshots, if anywhere.
fn screenshot_dir() -> Option<PathBuf> {
    let dir = PathBuf::from(std::env::var_os("ZHENWEI_SCREENSHOTS")?);
    std::fs::create_dir_all(&dir).expect("creating the screenshot directory");
    Some(dir)
}

/// The page's result element and what it shows.
struct Shown {
    state: String,
    text: String,
}

/// Types `code` into the page, submits it (with the button, or with Enter), waits for the
/// answer and returns what the result element shows.
#[track_caller]
fn check(b: &Browser, code: &str, press_enter: bool, shot: &str) -> Shown {
    let input = b.find("#code");
    b.clear(&input);
    let answered = b
        .attribute(&b.find("#result"), "data-answered")
        .unwrap_or_default();
    if press_enter {
        b.send_keys(&input, &format!("{code}{ENTER}"));
    } else {
        b.send_keys(&input, code);
        b.click(&b.find("#check"));
    }
    b.wait_for(
        &format!(
            "document.getElementById('result').getAttribute('data-answered') !== '{answered}'"
        ),
        &format!("the answer to {code:?}"),
    );
    let result = b.find("#result");
    let shown = Shown {
        state: b.attribute(&result, "data-state").unwrap_or_default(),
        text: b.text(&result),
    };
    screenshots(b, shot);
    shown
}

/// With `ZHENWEI_SCREENSHOTS` set: the page at desktop and phone size.
fn screenshots(b: &Browser, name: &str) {
    let Some(dir) = screenshot_dir() else { return };
    for (w, h) in [(1280, 800), (390, 844)] {
        b.set_window_size(w, h);
        let png = b.screenshot();
        std::fs::write(dir.join(format!("{name}-{w}.png")), png).expect("writing a screenshot");
    }
    b.set_window_size(1280, 800);
}

#[track_caller]
fn assert_shows(shown: &Shown, state: &str, words: &[&str]) {
    assert_eq!(shown.state, state, "the page shows:\n{}", shown.text);
    for w in words {
        assert!(
            shown.text.contains(w),
            "expected {w:?} on the page; it shows:\n{}",
            shown.text
        );
    }
}

#[test]
fn typing_a_code_shows_the_verdict_in_a_real_browser() {
    let Some(b) = browser_or_skip("typing_a_code_shows_the_verdict_in_a_real_browser") else {
        return;
    };
    let server = shared_demo_server();
    let demo = server.demo();
    let base = format!("http://{}/", server.addr());
    b.goto(&base);
    let html = b.find("html");
    assert_eq!(b.attribute(&html, "lang").as_deref(), Some("zh-CN"));
    assert_eq!(b.text(&b.find("label[for=code]")), "防伪码");

    // Genuine, typed in groups of four: green, the product, first query.
    let code = grouped(demo.code("genuine", 0), 4, " ");
    let shown = check(&b, &code, false, "genuine-zh");
    assert_shows(&shown, "genuine", &["正品", "婴幼儿配方奶粉", "首次查询"]);
    b.find("#result .card-genuine svg.icon");

    // Recalled, with dashes, submitted with Enter: amber, the recall and the notice's advice.
    let code = grouped(demo.code("recalled", 0), 4, "-");
    let shown = check(&b, &code, true, "recalled-zh");
    assert_shows(&shown, "warning", &["正品", "召回", "请立即停止食用"]);
    b.find("#result li[data-warning=recalled]");

    // Never activated: red, suspected counterfeit, what to do.
    let shown = check(&b, demo.code("not_activated", 0), false, "suspect-zh");
    assert_shows(
        &shown,
        "suspect",
        &["疑似假冒", "此码未激活", "12315", "案件编号"],
    );

    // A random 20-digit code from the web: unknown, please re-check.
    let shown = check(&b, &random_digits(20), false, "unknown-zh");
    assert_shows(&shown, "unknown", &["未查到此码", "核对"]);

    // Not a code at all.
    let shown = check(&b, "abc", false, "invalid-zh");
    assert_shows(&shown, "invalid", &["无法识别"]);

    // Empty input: a prompt, no request.
    let shown = check(&b, "", false, "empty-zh");
    assert_shows(&shown, "invalid", &["请先输入防伪码"]);

    // Switch to English: the page and the answer on screen are redrawn in English.
    b.click(&b.find("#lang-toggle"));
    assert_eq!(b.attribute(&html, "lang").as_deref(), Some("en"));
    assert_eq!(b.text(&b.find("label[for=code]")), "Anti-counterfeit code");
    assert!(b
        .text(&b.find("#result"))
        .contains("Please enter a code first"));

    let shown = check(&b, demo.code("genuine", 1), false, "genuine-en");
    assert_shows(
        &shown,
        "genuine",
        &["Genuine", "Infant formula", "First check of this code"],
    );

    // Full-width digits, as a Chinese input method types them.
    let shown = check(
        &b,
        &full_width(demo.code("genuine", 2)),
        false,
        "fullwidth-en",
    );
    assert_shows(&shown, "genuine", &["Genuine"]);

    // A second check of a code: still genuine, with when it was first checked (China time).
    let shown = check(&b, demo.code("genuine", 1), false, "repeat-en");
    assert_shows(
        &shown,
        "genuine",
        &["Genuine", "Checked 2 times", "China time"],
    );

    // The language is remembered across visits; ?lang= overrides it.
    b.goto(&base);
    assert_eq!(b.attribute(&b.find("html"), "lang").as_deref(), Some("en"));
    assert_eq!(b.text(&b.find("#check")), "Check");
    b.goto(&format!("{base}?lang=zh"));
    assert_eq!(
        b.attribute(&b.find("html"), "lang").as_deref(),
        Some("zh-CN")
    );
    assert_eq!(b.text(&b.find("#check")), "查询");

    // Both checks of that code were recorded as web queries without a place.
    let history = server
        .cli(["history", demo.code("genuine", 1), "--json"])
        .ok()
        .json();
    let events = history["events"].as_array().expect("events");
    assert_eq!(events.len(), 2, "{history:#}");
    for e in events {
        assert_eq!(e["channel"], "web", "{history:#}");
        assert_eq!(e["place"], Value::Null, "{history:#}");
    }
}
