//! The corpus test: every message of `tests/corpus.tsv` (what people actually text, in Chinese
//! and English, full-width, with typos and noise) parses to the expected command and language,
//! each code gets the expected verdict from a real core on a real SQLite database seeded with the
//! demo data, and the gateway's reply to it fits the expected number of segments.
//!
//! Placeholders such as `{genuine.3|sp}` are the demo's codes rendered the way people type them;
//! see the head of the corpus file.

use std::collections::BTreeMap;

use zhenwei_core::codes;
use zhenwei_core::{demo, Channel, Core, Location, Query, Thresholds};
use zhenwei_sms_gateway::coding;
use zhenwei_sms_gateway::parse::{self, Command};
use zhenwei_sms_gateway::{Gateway, GatewayConfig, Inbound};

const CORPUS: &str = include_str!("corpus.tsv");

type Manifest = BTreeMap<String, Vec<String>>;

fn groups(s: &str, n: usize) -> Vec<String> {
    s.chars()
        .collect::<Vec<_>>()
        .chunks(n)
        .map(|c| c.iter().collect())
        .collect()
}

fn full_width(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_graphic() {
                char::from_u32(c as u32 + 0xFEE0).unwrap_or(c)
            } else {
                c
            }
        })
        .collect()
}

/// A GS1 scan as a Digital Link URL or in the bracketed form.
fn gs1_form(scan: &str, form: &str) -> String {
    let d = codes::decode(scan).unwrap();
    let ais = d.ais();
    let get = |ai: &str| {
        ais.iter()
            .find(|(a, _)| a == ai)
            .map(|(_, v)| v.clone())
            .unwrap()
    };
    match form {
        "dl" => format!(
            "https://id.gs1.org/01/{}/10/{}/21/{}?17={}",
            get("01"),
            get("10"),
            get("21"),
            get("17")
        ),
        _ => d.normalised(),
    }
}

fn render(code: &str, form: &str) -> String {
    let sep = |s: &str| {
        if code.len() == 13 {
            // An EAN-13 as printed under the bars: 1 + 6 + 6.
            format!("{}{s}{}{s}{}", &code[..1], &code[1..7], &code[7..])
        } else {
            groups(code, 4).join(s)
        }
    };
    match form {
        "" => code.to_owned(),
        "sp" => sep(" "),
        "dash" => sep("-"),
        "dot" => sep("."),
        "nl" => sep("\n"),
        "sp2" => sep("  "),
        "spacedash" => sep(" - "),
        "fw" => full_width(code),
        "fwsp" => full_width(&sep("\u{3000}")),
        "mixed" => {
            let g = groups(code, 4);
            format!("{} {}-{}.{} {}", g[0], g[1], g[2], g[3], g[4])
        }
        "oh" => code.replace('0', "O"),
        "ohsp" => sep(" ").replace('0', "O"),
        "lower" => code.to_lowercase(),
        "lowerdash" => sep("-").to_lowercase(),
        "dl" | "bracket" => gs1_form(code, form),
        other => panic!("unknown form {other}"),
    }
}

/// A genuine code with one digit changed: no code at all.
fn typo(code: &str) -> String {
    let mut d: Vec<u8> = code.bytes().collect();
    d[9] = b'0' + (d[9] - b'0' + 1) % 10;
    String::from_utf8(d).unwrap()
}

/// Replaces every `{scenario.N|form}` in `s`; in expected commands (`normalise`) by the
/// normalised form of the rendered code.
fn substitute(s: &str, m: &Manifest, normalise: bool) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        let end = rest[start..].find('}').unwrap() + start;
        let inner = &rest[start + 1..end];
        let (name, form) = inner.split_once('|').unwrap_or((inner, ""));
        let (scenario, index) = name.split_once('.').unwrap();
        let code = match index {
            "typo" => typo(&m["genuine"][249]),
            "typo2" => typo(&m["genuine"][248]),
            i => m[scenario][i.parse::<usize>().unwrap()].clone(),
        };
        let text = render(&code, form);
        out.push_str(&if normalise {
            codes::decode(&text).map(|d| d.normalised()).unwrap_or(text)
        } else {
            text
        });
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    out.replace("\\n", "\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_corpus_message() {
    let dir = tempfile::tempdir().unwrap();
    let core = Core::open(
        &Location {
            data_dir: dir.path().to_owned(),
            database_url: None,
            key_file: None,
        },
        Thresholds::default(),
    )
    .await
    .unwrap();
    assert!(demo::seed_if_empty(&core.registry).await.unwrap());
    let manifest: Manifest =
        serde_json::from_value(demo::manifest(&core.store).await.unwrap().unwrap()).unwrap();
    let gateway = Gateway::new(&core, &GatewayConfig::default());

    let mut failures = Vec::new();
    let mut lines = 0;
    let mut single_segment = (0, 0);
    for (n, line) in CORPUS.lines().enumerate() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        lines += 1;
        let cols: Vec<&str> = line.split('\t').collect();
        assert_eq!(cols.len(), 4, "line {}: {line:?}", n + 1);
        let message = substitute(cols[0], &manifest, false);
        let expected = substitute(cols[1], &manifest, true);
        let parsed = parse::parse(&message);
        let got = parsed.command.to_string();
        if got != expected {
            failures.push(format!(
                "line {}: {message:?}\n    expected {expected}\n    got      {got}",
                n + 1
            ));
            continue;
        }
        let lang = format!("{:?}", parsed.lang).to_lowercase();
        if lang != cols[2] {
            failures.push(format!(
                "line {}: {message:?}: language {lang}, expected {}",
                n + 1,
                cols[2]
            ));
        }
        // Each line texts from its own number: no rate limit, no enumeration between lines.
        let number = format!("+86139{:08}", n);
        let query = |input: &str| Query {
            input: input.to_owned(),
            channel: Channel::Sms,
            source: number.clone(),
            place: None,
            store_id: None,
            lang: parsed.lang,
        };
        let verdicts = match &parsed.command {
            Command::Verify { codes, .. } => {
                let mut v = Vec::new();
                for c in codes {
                    let verdict = core.verifier.verify(&query(&c.text)).await.unwrap();
                    v.push(verdict.authenticity.as_str().to_owned());
                }
                v.join(" ")
            }
            Command::Report {
                code: Some(c),
                note,
            } => {
                let verdict = core
                    .verifier
                    .report(&query(&c.text), note.as_deref())
                    .await
                    .unwrap();
                if verdict.case_id.is_some() {
                    "case"
                } else {
                    "no case"
                }
                .to_owned()
            }
            _ => "-".to_owned(),
        };
        if verdicts != cols[3] {
            failures.push(format!(
                "line {}: {message:?}: verdicts {verdicts}, expected {}",
                n + 1,
                cols[3]
            ));
        }
        let reply = gateway
            .handle(&Inbound {
                from: number.clone(),
                to: "10658".into(),
                text: message.clone(),
            })
            .await
            .unwrap();
        let parts = coding::measure(&reply.text).parts;
        let codes = match &parsed.command {
            Command::Verify { codes, .. } => codes.len(),
            _ => 0,
        };
        if reply.text.is_empty() || (codes <= 1 && parts > 2) || (codes == 0 && parts > 1) {
            failures.push(format!(
                "line {}: {message:?}: reply in {parts} parts: {}",
                n + 1,
                reply.text
            ));
        }
        if codes == 1 {
            single_segment.1 += 1;
            if parts == 1 {
                single_segment.0 += 1;
            }
        }
    }
    assert!(lines >= 150, "the corpus has only {lines} messages");
    assert!(
        failures.is_empty(),
        "{} of {lines} corpus lines failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    // Even as the second query of each code (the gateway asks after the checks above), nearly
    // every one-code reply fits one segment.
    assert!(
        single_segment.0 * 10 >= single_segment.1 * 9,
        "only {} of {} one-code replies fit one segment",
        single_segment.0,
        single_segment.1
    );
    println!(
        "{lines} corpus messages; {} of {} one-code replies in one segment",
        single_segment.0, single_segment.1
    );
}
