//! The SMPP ESME of `zhenwei serve` against an independent SMSC: Net::SMPP (Debian package
//! `libnet-smpp-perl`) running `tests/peers/smsc.pl`. The SMSC logs every PDU it sees to
//! `events.log` and takes MOs to deliver on its stdin; the tests assert on what it recorded.
//!
//! Without perl + Net::SMPP the tests skip with a reason, except under `CI=true`, where they fail.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use tempfile::TempDir;
use zhenwei_tests::{Server, LIMIT};

/// Whether the peer is installed; panics under CI=true when it is not.
fn peer_available() -> bool {
    let ok = Command::new("perl")
        .args(["-MNet::SMPP", "-e", "1"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !ok {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("CI=true but perl with Net::SMPP (libnet-smpp-perl) is missing");
        }
        eprintln!("skipping: perl with Net::SMPP (Debian libnet-smpp-perl) is not installed");
    }
    ok
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("peers/smsc.pl")
}

/// A running smsc.pl.
struct Smsc {
    child: Child,
    stdin: ChildStdin,
    port: u16,
}

impl Smsc {
    /// Starts the SMSC on `port` (0: any free port) with its state in `state`.
    fn start(state: &Path, port: u16, receipts: bool) -> Smsc {
        let mut cmd = Command::new("perl");
        cmd.arg(script())
            .args(["--port", &port.to_string()])
            .arg("--state")
            .arg(state)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        if receipts {
            cmd.arg("--receipts");
        }
        let mut child = cmd.spawn().expect("starting perl smsc.pl");
        let stdin = child.stdin.take().expect("piped stdin");
        let stdout = child.stdout.take().expect("piped stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("smsc.pl announces its port");
        let port = line
            .trim()
            .strip_prefix("LISTENING ")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("smsc.pl said {line:?}, not LISTENING <port>"));
        Smsc { child, stdin, port }
    }

    fn command(&mut self, line: &str) {
        writeln!(self.stdin, "{line}").expect("writing to smsc.pl");
        self.stdin.flush().expect("flushing smsc.pl stdin");
    }

    fn mo(&mut self, from: &str, to: &str, text: &str) {
        self.command(&format!("MO {from} {to} {}", hex(text.as_bytes())));
    }

    fn mo_part(&mut self, from: &str, to: &str, reference: u8, total: u8, seq: u8, text: &str) {
        self.command(&format!(
            "MOPART {from} {to} {reference} {total} {seq} {}",
            hex(text.as_bytes())
        ));
    }

    /// Kills it like a crash (SIGKILL) and waits for it to be gone.
    fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Smsc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len() / 2)
        .map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap())
        .collect()
}

fn events(state: &Path) -> Vec<String> {
    std::fs::read_to_string(state.join("events.log"))
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

/// Polls the SMSC's log until `done` holds (the SMSC is an external process: poll with a
/// deadline).
#[track_caller]
fn wait_for(state: &Path, what: &str, done: impl Fn(&[String]) -> bool) -> Vec<String> {
    let deadline = Instant::now() + LIMIT;
    loop {
        let ev = events(state);
        if done(&ev) {
            return ev;
        }
        if Instant::now() > deadline {
            panic!("SMSC never saw {what}; its log:\n{}", ev.join("\n"));
        }
        thread::sleep(Duration::from_millis(20));
    }
}

/// One submit_sm as the SMSC recorded it.
#[derive(Debug, Clone)]
struct Submit {
    message_id: String,
    from: String,
    to: String,
    esm_class: u8,
    data_coding: u8,
    registered_delivery: u8,
    body: Vec<u8>,
}

fn submits(ev: &[String]) -> Vec<Submit> {
    ev.iter()
        .filter_map(|l| {
            let w: Vec<&str> = l.split(' ').collect();
            (w.first() == Some(&"SUBMIT")).then(|| Submit {
                message_id: w[1].into(),
                from: w[2].into(),
                to: w[3].into(),
                esm_class: w[4].parse().unwrap(),
                data_coding: w[5].parse().unwrap(),
                registered_delivery: w[6].parse().unwrap(),
                body: unhex(w.get(7).copied().unwrap_or("")),
            })
        })
        .collect()
}

/// Decodes a body independently of the gateway's coding module: UCS-2 via UTF-16, GSM-7 for
/// the ASCII-compatible part of the default alphabet.
fn decode(data_coding: u8, body: &[u8]) -> String {
    match data_coding {
        8 => {
            let units: Vec<u16> = body
                .chunks(2)
                .map(|p| u16::from_be_bytes([p[0], p[1]]))
                .collect();
            String::from_utf16(&units).expect("valid UTF-16 in a UCS-2 part")
        }
        0 => body
            .iter()
            .map(|&b| match b {
                0x00 => '@',
                0x02 => '$',
                0x0A => '\n',
                0x11 => '_',
                0x20..=0x23 | 0x25..=0x3F | 0x41..=0x5A | 0x61..=0x7A => char::from(b),
                _ => '?',
            })
            .collect(),
        other => panic!("unexpected data_coding {other}"),
    }
}

/// The replies each handset received, concatenated parts joined in order (checking the UDH).
fn replies_to(ev: &[String], to: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut parts: Vec<(u8, u8, u8, String)> = Vec::new(); // ref, total, seq, text
    for s in submits(ev).into_iter().filter(|s| s.to == to) {
        // GSM-7 travels unpacked (one septet per octet): 160 septets, or 153 after a UDH.
        let (single, part) = if s.data_coding == 0 {
            (160, 6 + 153)
        } else {
            (140, 140)
        };
        if s.esm_class & 0x40 == 0 {
            assert!(s.body.len() <= single, "a single message over one segment");
            out.push(decode(s.data_coding, &s.body));
            continue;
        }
        let udh = &s.body[..6];
        assert_eq!(&udh[..3], &[5, 0, 3], "concatenation UDH, 8-bit reference");
        assert!(s.body.len() <= part, "a part over one segment");
        parts.push((udh[3], udh[4], udh[5], decode(s.data_coding, &s.body[6..])));
        let (reference, total) = (udh[3], udh[4]);
        let mine: Vec<&(u8, u8, u8, String)> = parts.iter().filter(|p| p.0 == reference).collect();
        if mine.len() == usize::from(total) {
            let mut sorted = mine.clone();
            sorted.sort_by_key(|p| p.2);
            let seqs: Vec<u8> = sorted.iter().map(|p| p.2).collect();
            assert_eq!(seqs, (1..=total).collect::<Vec<u8>>());
            out.push(sorted.iter().map(|p| p.3.as_str()).collect());
            parts.retain(|p| p.0 != reference);
        }
    }
    out
}

fn full_width(code: &str) -> String {
    code.chars()
        .map(|c| char::from_u32(c as u32 + 0xFEE0).unwrap())
        .collect()
}

/// A data directory with a config file whose `[smpp]` section points at `port`.
fn config(dir: &Path, port: u16) -> PathBuf {
    config_with(dir, port, "")
}

/// [`config`] with more sections appended.
fn config_with(dir: &Path, port: u16, more: &str) -> PathBuf {
    let path = dir.join("zhenwei.toml");
    std::fs::write(
        &path,
        format!(
            "[smpp]\nhost = \"127.0.0.1\"\nport = {port}\nsystem_id = \"zhenwei\"\n\
             password = \"s3cret\"\nsystem_type = \"VMA\"\nwindow = 8\nrate = 0\n\
             enquire_link_secs = 1\nresponse_timeout_secs = 5\nreconnect_initial_ms = 50\n\
             reconnect_max_ms = 400\n{more}"
        ),
    )
    .unwrap();
    path
}

fn start_server(data: &TempDir, port: u16) -> Server {
    let cfg = config(data.path(), port);
    Server::start(
        &data.path().join("data"),
        &[
            "--demo",
            "--https",
            "off",
            "--config",
            cfg.to_str().unwrap(),
        ],
    )
}

const SHORT_CODE: &str = "10690000";

#[test]
fn bind_round_trips_concatenation_keepalive_and_nack() {
    if !peer_available() {
        return;
    }
    let smsc_dir = TempDir::new().unwrap();
    let mut smsc = Smsc::start(smsc_dir.path(), 0, true);
    let data = TempDir::new().unwrap();
    let server = start_server(&data, smsc.port);
    let state = smsc_dir.path();

    // Bind with the configured account.
    wait_for(state, "bind_transceiver", |ev| {
        ev.iter().any(|l| l == "BIND zhenwei s3cret VMA")
    });

    // MO → MT in UCS-2: full-width digits in, a Chinese verdict out.
    let code = server.demo().code("genuine", 0).to_owned();
    let phone = "8613800138001";
    smsc.mo(phone, SHORT_CODE, &full_width(&code));
    let ev = wait_for(state, "the UCS-2 reply", |ev| {
        !replies_to(ev, phone).is_empty()
    });
    let first = submits(&ev).into_iter().find(|s| s.to == phone).unwrap();
    assert_eq!((first.from.as_str(), first.data_coding), (SHORT_CODE, 8));
    assert_eq!(first.registered_delivery, 1);
    assert_eq!(
        replies_to(&ev, phone),
        vec!["正品：婴幼儿配方奶粉。首次查询。生产企业：宁波甬江食品有限公司。".to_owned()]
    );
    // The MO was acknowledged (deliver_sm_resp), and the receipt for the reply too.
    wait_for(state, "the MO's deliver_sm_resp", |ev| {
        ev.iter().any(|l| l.starts_with("ACK "))
    });
    let receipted = first.message_id.clone();
    wait_for(state, "the receipt's deliver_sm_resp", |ev| {
        ev.iter()
            .any(|l| *l == format!("RECEIPT_ACK {receipted} 0"))
    });

    // A concatenated MO (two parts, UDH) is reassembled before verification.
    let phone2 = "8613800138002";
    let fw = full_width(server.demo().code("genuine", 1));
    let (a, b) = fw.split_at(fw.char_indices().nth(9).unwrap().0);
    smsc.mo_part(phone2, SHORT_CODE, 77, 2, 1, a);
    smsc.mo_part(phone2, SHORT_CODE, 77, 2, 2, b);
    let ev = wait_for(state, "the reply to the concatenated MO", |ev| {
        !replies_to(ev, phone2).is_empty()
    });
    assert_eq!(
        replies_to(&ev, phone2),
        vec!["正品：婴幼儿配方奶粉。首次查询。生产企业：宁波甬江食品有限公司。".to_owned()]
    );

    // A long reply goes out as concatenated GSM-7 parts: three codes in one English message
    // get one line each.
    let phone3 = "8613800138003";
    let three = format!(
        "CHECK {} {} {}",
        code,
        server.demo().code("genuine", 2),
        server.demo().code("genuine", 3)
    );
    smsc.mo(phone3, SHORT_CODE, &three);
    let ev = wait_for(state, "the long reply", |ev| {
        !replies_to(ev, phone3).is_empty()
    });
    let parts: Vec<Submit> = submits(&ev)
        .into_iter()
        .filter(|s| s.to == phone3)
        .collect();
    assert!(
        parts.len() >= 2,
        "expected a concatenated reply, got {parts:?}"
    );
    assert!(parts
        .iter()
        .all(|p| p.esm_class == 0x40 && p.data_coding == 0));
    let reply = &replies_to(&ev, phone3)[0];
    assert_eq!(reply.lines().count(), 3, "{reply}");
    assert!(
        reply
            .lines()
            .all(|l| l.contains(": Genuine: Infant formula.")),
        "{reply}"
    );
    assert!(reply.chars().count() > 160, "{reply}");

    // Keep-alive both ways: our enquire_link on idle, and the SMSC's answered.
    wait_for(state, "an enquire_link from the ESME", |ev| {
        ev.iter().any(|l| l == "ENQUIRE_LINK")
    });
    smsc.command("ENQUIRE");
    wait_for(state, "enquire_link_resp from the ESME", |ev| {
        ev.iter().any(|l| l.starts_with("ENQUIRE_LINK_RESP "))
    });

    // An unknown command id gets generic_nack with ESME_RINVCMDID and the same sequence.
    smsc.command("GARBAGE");
    wait_for(state, "generic_nack", |ev| {
        ev.iter().any(|l| l == "GENERIC_NACK 4242 0x00000003")
    });

    // Shutdown unbinds.
    let (status, log) = server.stop_with_log();
    assert!(
        status.success(),
        "zhenwei serve exited with {status:?}:\n{log}"
    );
    wait_for(state, "unbind", |ev| ev.iter().any(|l| l == "UNBIND"));
    assert!(log.contains("SMPP delivery receipt"), "{log}");
    drop(smsc);
}

#[test]
fn no_mo_lost_when_the_smsc_is_killed_and_restarted() {
    if !peer_available() {
        return;
    }
    let smsc_dir = TempDir::new().unwrap();
    let state = smsc_dir.path().to_owned();
    let mut smsc = Smsc::start(&state, 0, false);
    let port = smsc.port;
    let data = TempDir::new().unwrap();
    let server = start_server(&data, port);
    wait_for(&state, "the first bind", |ev| {
        ev.iter().any(|l| l.starts_with("BIND "))
    });
    let code = server.demo().code("genuine", 2).to_owned();
    let phones: Vec<String> = (0..12).map(|i| format!("86139000000{i:02}")).collect();

    // Six MOs the SMSC has stored, then a crash right away: some are acknowledged, some in
    // flight, some not yet delivered.
    for p in &phones[..6] {
        smsc.mo(p, SHORT_CODE, &code);
    }
    wait_for(&state, "six MOs stored", |ev| {
        ev.iter().filter(|l| l.starts_with("STORED ")).count() == 6
    });
    smsc.kill();
    // Six more arrive at the SMSC while the ESME is reconnecting.
    let mut smsc = Smsc::start(&state, port, false);
    for p in &phones[6..] {
        smsc.mo(p, SHORT_CODE, &code);
    }

    let ev = wait_for(&state, "a reply to every MO and no MO pending", |ev| {
        phones.iter().all(|p| !replies_to(ev, p).is_empty())
            && std::fs::read_dir(state.join("pending"))
                .map(|d| d.count() == 0)
                .unwrap_or(false)
    });
    // What the crash interrupted (varies run to run): MOs delivered by the first SMSC process
    // and delivered again by the second because their deliver_sm_resp never came.
    let second = ev.iter().rposition(|l| l.starts_with("START ")).unwrap();
    let first_acked: Vec<&str> = ev[..second]
        .iter()
        .filter_map(|l| l.strip_prefix("ACK "))
        .collect();
    let redelivered = ev[second..]
        .iter()
        .filter_map(|l| l.strip_prefix("DELIVER "))
        .filter(|d| {
            ev[..second]
                .iter()
                .any(|l| l.starts_with(&format!("DELIVER {}", d.split(' ').next().unwrap())))
        })
        .count();
    eprintln!(
        "before the crash: {} MOs acknowledged; redelivered after the restart: {redelivered}",
        first_acked.len()
    );
    let binds = ev.iter().filter(|l| l.starts_with("BIND ")).count();
    assert!(
        binds >= 2,
        "expected a rebind after the restart:\n{}",
        ev.join("\n")
    );
    for p in &phones {
        // The same code, asked 12+ times: genuine at first, then suspect; always the product
        // (in Chinese: the messages are bare digits).
        for reply in replies_to(&ev, p) {
            assert!(
                reply.contains("婴幼儿配方奶粉") || reply.contains("Infant formula"),
                "{p}: {reply}"
            );
        }
    }
    drop(server);
    drop(smsc);
}

fn feed_file(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../docs/feeds")
        .join(name)
        .to_str()
        .unwrap()
        .to_owned()
}

/// Issue 8 end to end over SMPP: consumers text codes of a batch, one opts out, one opts out
/// and back in; a recall of the batch is imported; each consumer not opted out gets exactly one
/// notice at the SMSC, with a delivery receipt recorded against it; a re-import sends nothing.
#[test]
fn recall_notices_reach_each_consumer_once_with_receipts() {
    if !peer_available() {
        return;
    }
    let smsc_dir = TempDir::new().unwrap();
    let mut smsc = Smsc::start(smsc_dir.path(), 0, true);
    let state = smsc_dir.path();
    let data = TempDir::new().unwrap();
    let cfg = config_with(
        data.path(),
        smsc.port,
        "[sms]\nfrom = \"10690001\"\nnotice_every_ms = 100\nnotice_lease_secs = 60\n",
    );
    let server = Server::start(
        &data.path().join("data"),
        &[
            "--demo",
            "--https",
            "off",
            "--config",
            cfg.to_str().unwrap(),
        ],
    );
    wait_for(state, "bind_transceiver", |ev| {
        ev.iter().any(|l| l.starts_with("BIND "))
    });
    let demo = server.demo();
    let (a, b, c) = ("8613800138021", "8613800138022", "8613800138023");
    smsc.mo(a, SHORT_CODE, demo.code("genuine", 4));
    smsc.mo(b, SHORT_CODE, demo.code("genuine", 5));
    smsc.mo(c, SHORT_CODE, demo.code("genuine", 6));
    wait_for(state, "three replies", |ev| {
        [a, b, c].iter().all(|p| replies_to(ev, p).len() == 1)
    });
    smsc.mo(b, SHORT_CODE, "TD");
    smsc.mo(c, SHORT_CODE, "退订");
    wait_for(state, "two opt-outs", |ev| {
        replies_to(ev, b).len() == 2 && replies_to(ev, c).len() == 2
    });
    smsc.mo(c, SHORT_CODE, "开通");
    let ev = wait_for(state, "the opt-in", |ev| replies_to(ev, c).len() == 3);
    assert_eq!(
        replies_to(&ev, c)[2],
        "已重新开通提醒短信，召回等安全提醒将发送到本号码。回复TD退订。"
    );

    // The recall of lot NB2026A (docs/feeds/recall.csv).
    server
        .cli(["feed", "import", "recall", &feed_file("recall.csv")])
        .ok();
    let notice =
        "【召回】婴幼儿配方奶粉（批号NB2026A）已被召回。请立即停止食用，凭购物凭证到购买处退货。";
    let ev = wait_for(state, "the recall notices", |ev| {
        replies_to(ev, a).len() == 2 && replies_to(ev, c).len() == 4
    });
    assert_eq!(replies_to(&ev, a)[1], notice);
    assert_eq!(replies_to(&ev, c)[3], notice);
    let notice_submits: Vec<Submit> = submits(&ev)
        .into_iter()
        .filter(|s| s.to == a && s.from == "10690001")
        .collect();
    assert!(!notice_submits.is_empty(), "{ev:?}");
    assert!(notice_submits.iter().all(|s| s.registered_delivery == 1));

    // Every notice settled: two sent, one opted out.
    let settled = |server: &Server| {
        let deadline = Instant::now() + LIMIT;
        loop {
            let rows = server.cli(["feed", "notices", "--json"]).ok().json();
            let mut states: Vec<String> = rows
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["state"].as_str().unwrap().to_owned())
                .collect();
            states.sort();
            if states.iter().all(|s| s != "pending" && s != "sending") || Instant::now() > deadline
            {
                return states;
            }
            thread::sleep(Duration::from_millis(50));
        }
    };
    assert_eq!(settled(&server), ["opted_out", "sent", "sent"]);

    // The receipts the SMSC sent for the notices are recorded against them.
    let ids: Vec<String> = notice_submits
        .iter()
        .map(|s| s.message_id.clone())
        .collect();
    let deadline = Instant::now() + LIMIT;
    let rows = loop {
        let rows = server.cli(["sms", "receipts", "--json"]).ok().json();
        let done = ids.iter().all(|id| {
            rows.as_array()
                .unwrap()
                .iter()
                .any(|r| r["message_id"] == id.as_str() && r["stat"] == "DELIVRD")
        });
        if done || Instant::now() > deadline {
            break rows;
        }
        thread::sleep(Duration::from_millis(50));
    };
    for id in &ids {
        let r = rows
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["message_id"] == id.as_str())
            .unwrap_or_else(|| panic!("{id} not in {rows}"));
        assert_eq!(r["stat"], "DELIVRD", "{r}");
        assert_eq!(r["purpose"], "recall", "{r}");
        assert_eq!(r["transport"], "smpp", "{r}");
        assert_eq!(r["to"], "861******8021", "{r}");
    }
    // Replies get their receipts too.
    assert!(
        rows.as_array()
            .unwrap()
            .iter()
            .any(|r| r["purpose"] == "reply" && r["stat"] == "DELIVRD"),
        "{rows}"
    );
    let text = server.cli(["sms", "receipts"]).ok().stdout.clone();
    assert!(text.contains(" smpp recall #"), "{text}");

    // Asked again, the same code carries the recall and its own advice (issue 8 over SMPP); the
    // first query's city comes from the number's segment (docs/numbers/example.csv).
    smsc.mo(a, SHORT_CODE, demo.code("genuine", 4));
    let ev = wait_for(state, "the reply after the recall", |ev| {
        replies_to(ev, a).len() == 3
    });
    assert_eq!(
        zhenwei_tests::sms_without_time(&replies_to(&ev, a)[2]),
        "正品：婴幼儿配方奶粉。已被查询2次，首次<time>在宁波。该批次已召回：请立即停止食用，凭购物凭证到购买处退货。"
    );
    let last = submits(&ev).into_iter().rfind(|s| s.to == a).unwrap();
    assert_eq!(
        (last.esm_class, last.data_coding),
        (0, 8),
        "one UCS-2 segment"
    );

    // A re-import queues nothing and sends nothing more.
    server
        .cli(["feed", "import", "recall", &feed_file("recall.csv")])
        .ok();
    assert_eq!(settled(&server), ["opted_out", "sent", "sent"]);
    assert_eq!(
        server
            .cli(["feed", "notices", "--stuck"])
            .ok()
            .stdout
            .trim(),
        "no stuck recall notices"
    );
    let (status, log) = server.stop_with_log();
    assert!(status.success(), "{log}");
    let ev = events(state);
    assert_eq!(replies_to(&ev, a).len(), 3, "{ev:?}");
    assert_eq!(replies_to(&ev, b).len(), 2, "{ev:?}");
    assert_eq!(replies_to(&ev, c).len(), 4, "{ev:?}");
    drop(smsc);
}
