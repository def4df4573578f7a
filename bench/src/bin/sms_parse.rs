//! SMS parse throughput over the corpus (`sms-gateway/tests/corpus.tsv`).
//!
//! The corpus's placeholders are filled with fixed, syntactically valid codes (parsing needs no
//! database: whether a code was issued is the core's business), and every message is parsed
//! again and again for a fixed time per workload. Baseline, measured in the same run: the core's
//! decoder ([`zhenwei_core::codes::decode`]) on the same texts — the one call a parser that did
//! nothing but hand the whole message over would make. Prints a Markdown table.
//!
//! `cargo run --release -p zhenwei-bench --bin sms_parse [SECONDS_PER_ROW]` (default 2).

use std::hint::black_box;
use std::time::{Duration, Instant};

use zhenwei_sms_gateway::parse::{self, Command};

const CORPUS: &str = include_str!("../../../sms-gateway/tests/corpus.tsv");

fn code_for(scenario: &str, index: &str) -> String {
    // Deterministic stand-ins of each family.
    let n: u64 = index.bytes().map(u64::from).sum();
    match scenario {
        "gs1_serial" | "gs1_lot_mismatch" => {
            format!("]d201069345670001321727112110GM2026A\u{1d}21SN{n:06}")
        }
        "scratch_pin" => format!("K7QX{n:04}PZ3M"),
        "gtin_only" => "6901234000116".into(),
        _ => format!("{:020}", 18_000_141_495_607_993_755u64 + n),
    }
}

fn render(code: &str, form: &str) -> String {
    let groups = |sep: &str| {
        code.chars()
            .collect::<Vec<_>>()
            .chunks(4)
            .map(|c| c.iter().collect::<String>())
            .collect::<Vec<_>>()
            .join(sep)
    };
    match form {
        "sp" | "mixed" => groups(" "),
        "dash" => groups("-"),
        "dot" => groups("."),
        "nl" => groups("\n"),
        "sp2" => groups("  "),
        "spacedash" => groups(" - "),
        "fw" | "fwsp" => code
            .chars()
            .map(|c| char::from_u32(c as u32 + 0xFEE0).unwrap_or(c))
            .collect(),
        "oh" | "ohsp" => code.replace('0', "O"),
        "lower" | "lowerdash" => code.to_lowercase(),
        "dl" => "https://id.gs1.org/01/06934567000132/10/GM2026A/21/SN000002?17=271121".into(),
        _ => code.to_owned(),
    }
}

fn substitute(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        let Some(end) = rest[start..].find('}').map(|e| e + start) else {
            break;
        };
        let inner = &rest[start + 1..end];
        let (name, form) = inner.split_once('|').unwrap_or((inner, ""));
        let (scenario, index) = name.split_once('.').unwrap_or((name, "0"));
        out.push_str(&render(&code_for(scenario, index), form));
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    out.replace("\\n", "\n")
}

/// Messages per second over `messages`, running `f` on each for about `secs`.
fn rate(messages: &[String], secs: f64, f: impl Fn(&str)) -> (f64, u64) {
    let budget = Duration::from_secs_f64(secs);
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < budget {
        for m in messages {
            f(m);
        }
        n += messages.len() as u64;
    }
    (n as f64 / start.elapsed().as_secs_f64(), n)
}

fn main() {
    let secs: f64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(2.0);
    let messages: Vec<String> = CORPUS
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| l.split('\t').next())
        .map(substitute)
        .collect();
    let kind = |m: &String| match parse::parse(m).command {
        Command::Verify { codes, .. } if codes.len() == 1 => "one code",
        Command::Verify { .. } => "several codes",
        Command::Report { .. } => "report",
        _ => "help / opt-out / other",
    };
    let mut workloads: Vec<(String, Vec<String>)> = vec![("whole corpus".into(), messages.clone())];
    for k in [
        "one code",
        "several codes",
        "report",
        "help / opt-out / other",
    ] {
        let subset: Vec<String> = messages.iter().filter(|m| kind(m) == k).cloned().collect();
        workloads.push((k.into(), subset));
    }
    println!(
        "SMS parse throughput, {} corpus messages, {secs} s per row, one thread",
        messages.len()
    );
    println!();
    println!("| workload | messages | parse msg/s | µs/msg | baseline: core decode msg/s | parse / baseline time |");
    println!("|---|---|---|---|---|---|");
    for (name, set) in &workloads {
        if set.is_empty() {
            continue;
        }
        let (parse_rate, _) = rate(set, secs, |m| {
            black_box(parse::parse(black_box(m)));
        });
        let (base_rate, _) = rate(set, secs, |m| {
            let _ = black_box(zhenwei_core::codes::decode(black_box(m)));
        });
        println!(
            "| {name} | {} | {:.0} | {:.2} | {:.0} | {:.1}× |",
            set.len(),
            parse_rate,
            1e6 / parse_rate,
            base_rate,
            base_rate / parse_rate
        );
    }
}
