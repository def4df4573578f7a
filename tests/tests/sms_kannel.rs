//! The SMS channel behind a real Kannel (Debian `kannel` + `kannel-extras`).
//!
//! `bearerbox` runs with a `fake` SMSC; `smsbox` runs an sms-service whose `get-url` is our
//! `/v1/sms/inbound`; `fakesmsc` (Kannel's test SMSC client) injects mobile-originated messages —
//! plain text and UCS-2, as a handset sends Chinese — and prints every mobile-terminated message
//! Kannel sends back. The test asserts those replies: their text, that Chinese replies travel as
//! UCS-2, and that a reply too long for one message arrives as concatenated parts with a UDH.
//! Configuration files are generated in a temporary directory with free ports; every wait has a
//! deadline; the Kannel processes are killed when the test ends, however it ends.
//!
//! Without Kannel installed the test is skipped with a notice, except under `CI=true`, where it
//! fails (`.ci/run` installs the packages).

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

use zhenwei_tests::{Server, LIMIT};

fn find(name: &str, extra: &[&str]) -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    dirs.extend(["/usr/sbin", "/usr/bin"].iter().map(PathBuf::from));
    dirs.extend(extra.iter().map(PathBuf::from));
    dirs.into_iter().map(|d| d.join(name)).find(|p| p.is_file())
}

struct Kannel {
    bearerbox: PathBuf,
    smsbox: PathBuf,
    fakesmsc: PathBuf,
}

fn kannel() -> Option<Kannel> {
    let found = (
        find("bearerbox", &[]),
        find("smsbox", &[]),
        find("fakesmsc", &["/usr/lib/kannel/test"]),
    );
    match found {
        (Some(bearerbox), Some(smsbox), Some(fakesmsc)) => Some(Kannel {
            bearerbox,
            smsbox,
            fakesmsc,
        }),
        _ => {
            let why = "Kannel is not installed (Debian packages kannel and kannel-extras: bearerbox, smsbox, fakesmsc)";
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "{why}; CI=true requires it"
            );
            eprintln!("skipping the Kannel test: {why}");
            None
        }
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Kills a child process when dropped.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start(bin: &Path, args: &[&str], dir: &Path, name: &'static str) -> Running {
    let out = std::fs::File::create(dir.join(format!("{name}.out"))).expect("log file");
    let err = out.try_clone().expect("log file");
    let child = Command::new(bin)
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
    Running(child)
}

/// Polls until `cond` holds (external processes announce nothing we could await).
fn wait_for(what: &str, mut cond: impl FnMut() -> bool, logs: &Path) {
    let deadline = Instant::now() + LIMIT;
    while !cond() {
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}; logs in {}:\n{}",
            logs.display(),
            tail_logs(logs)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn tail_logs(dir: &Path) -> String {
    let mut out = String::new();
    for name in ["bearerbox.log", "smsbox.log", "fakesmsc.err"] {
        let text = std::fs::read_to_string(dir.join(name)).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        out.push_str(&format!("--- {name}\n"));
        for l in &lines[lines.len().saturating_sub(15)..] {
            out.push_str(l);
            out.push('\n');
        }
    }
    out
}

fn log_contains(dir: &Path, file: &str, needle: &str) -> bool {
    std::fs::read_to_string(dir.join(file)).is_ok_and(|t| t.contains(needle))
}

fn percent_decode(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() + 1 {
            let hex = std::str::from_utf8(&b[i + 1..i + 3]).expect("hex");
            out.push(u8::from_str_radix(hex, 16).expect("hex digits"));
            i += 3;
        } else {
            // Kannel's octstr_url_encode writes a space (also the 0x20 byte of a UCS-2
            // character) as '+', and a '+' as %2B.
            out.push(if b[i] == b'+' { b' ' } else { b[i] });
            i += 1;
        }
    }
    out
}

fn utf16be(bytes: &[u8]) -> String {
    assert!(bytes.len().is_multiple_of(2), "odd UCS-2 length: {bytes:?}");
    let units: Vec<u16> = bytes
        .chunks(2)
        .map(|p| u16::from_be_bytes([p[0], p[1]]))
        .collect();
    String::from_utf16(&units).expect("valid UTF-16BE")
}

/// URL-encodes like Kannel: letters and digits stay, every other byte is `%XX`. (fakesmsc reads
/// its input with a 256-byte buffer, so MO lines must stay short.)
fn url_encode(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|&b| {
            if b.is_ascii_alphanumeric() {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// One mobile-terminated message as fakesmsc printed it.
#[derive(Debug)]
struct Mt {
    receiver: String,
    kind: String,
    /// (reference, total, sequence) from the UDH, for parts of a concatenated message.
    part: Option<(u8, u8, u8)>,
    data: Vec<u8>,
}

/// `Got message N: <sender receiver type data>` (fakesmsc's log line for an MT).
fn parse_mt(line: &str) -> Option<Mt> {
    let start = line.find("Got message ")?;
    let inner = line[start..].split_once(": <")?.1.strip_suffix('>')?;
    let mut it = inner.splitn(4, ' ');
    let (_sender, receiver, kind, rest) = (it.next()?, it.next()?, it.next()?, it.next()?);
    let (part, data) = match kind {
        "udh" => {
            let (udh, data) = rest.split_once(" data ")?;
            let udh = percent_decode(udh);
            // 05 00 03 ref total seq: concatenation with an 8-bit reference.
            assert_eq!(&udh[..3], &[5, 0, 3], "unexpected UDH {udh:?}");
            (Some((udh[3], udh[4], udh[5])), percent_decode(data))
        }
        "ucs-2" | "data" => (None, percent_decode(rest)),
        _ => (None, rest.as_bytes().to_vec()),
    };
    Some(Mt {
        receiver: receiver.to_owned(),
        kind: kind.to_owned(),
        part,
        data,
    })
}

struct FakeSmsc {
    _child: Running,
    stdin: ChildStdin,
    lines: Receiver<String>,
}

impl FakeSmsc {
    /// Sends one MO line and returns the reply to `from`: its text, whether it came as UCS-2,
    /// and the number of messages it took.
    fn ask(&mut self, from: &str, kind: &str, data: &str) -> (String, bool, usize) {
        assert!(data.len() < 200, "fakesmsc cuts input lines at 255 bytes");
        writeln!(self.stdin, "{from} 10658 {kind} {data}").expect("write to fakesmsc");
        self.stdin.flush().expect("flush");
        let deadline = Instant::now() + LIMIT;
        let mut parts: Vec<Mt> = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = self
                .lines
                .recv_timeout(left)
                .unwrap_or_else(|_| panic!("no reply to {from} within {LIMIT:?}"));
            let Some(mt) = parse_mt(&line) else { continue };
            assert_eq!(mt.receiver, from, "a reply to somebody else: {line}");
            match mt.part {
                None => {
                    let ucs2 = mt.kind == "ucs-2";
                    let text = if ucs2 {
                        utf16be(&mt.data)
                    } else {
                        String::from_utf8(mt.data).expect("UTF-8 text")
                    };
                    return (text, ucs2, 1);
                }
                Some((_, total, _)) => {
                    parts.push(mt);
                    if parts.len() == usize::from(total) {
                        parts.sort_by_key(|p| p.part.map(|x| x.2));
                        let refs: Vec<u8> =
                            parts.iter().filter_map(|p| p.part.map(|x| x.0)).collect();
                        assert!(
                            refs.windows(2).all(|w| w[0] == w[1]),
                            "parts of different messages"
                        );
                        let seqs: Vec<u8> =
                            parts.iter().filter_map(|p| p.part.map(|x| x.2)).collect();
                        assert_eq!(seqs, (1..=total).collect::<Vec<_>>());
                        let data: Vec<u8> = parts.iter().flat_map(|p| p.data.clone()).collect();
                        return (utf16be(&data), true, parts.len());
                    }
                }
            }
        }
    }
}

fn ucs2(text: &str) -> String {
    let bytes: Vec<u8> = text.encode_utf16().flat_map(u16::to_be_bytes).collect();
    url_encode(&bytes)
}

#[test]
fn kannel_round_trips_through_the_sms_service() {
    let Some(k) = kannel() else { return };
    let dir = tempfile::tempdir().expect("temp dir");
    let d = dir.path();
    let (admin, boxes, smsc, sendsms) = (free_port(), free_port(), free_port(), free_port());
    // Recall notices go out through smsbox's sendsms interface, delivery reports come back.
    let zw_conf = d.join("zhenwei.toml");
    std::fs::write(
        &zw_conf,
        format!(
            "[sms]\nfrom = \"10658\"\nsender = \"kannel\"\n\
             kannel_sendsms_url = \"http://127.0.0.1:{sendsms}/cgi-bin/sendsms\"\n\
             kannel_user = \"zhenwei\"\nkannel_password = \"send-s3cret\"\n\
             dlr_url = \"auto\"\nnotice_every_ms = 100\n"
        ),
    )
    .expect("write zhenwei.toml");
    let data = tempfile::tempdir().expect("temp dir");
    let server = Server::start(
        data.path(),
        &[
            "--demo",
            "--config",
            zw_conf.to_str().expect("a UTF-8 path"),
        ],
    );
    let demo = server.demo();
    let config = format!(
        r#"group = core
admin-port = {admin}
admin-password = zhenwei-test
smsbox-port = {boxes}
log-level = 0
log-file = "{log}/bearerbox.log"
box-allow-ip = "127.0.0.1"

group = smsc
smsc = fake
smsc-id = FAKE
port = {smsc}
connect-allow-ip = "127.0.0.1"

group = smsbox
bearerbox-host = 127.0.0.1
sendsms-port = {sendsms}
log-level = 0
log-file = "{log}/smsbox.log"

group = sendsms-user
username = zhenwei
password = send-s3cret
max-messages = 5
concatenation = true

group = sms-service
keyword = default
catch-all = true
get-url = "http://{addr}/v1/sms/inbound?from=%p&to=%P&text=%b&coding=%c&charset=%C"
accept-x-kannel-headers = true
max-messages = 5
concatenation = true
"#,
        log = d.display(),
        addr = server.addr(),
    );
    let conf = d.join("kannel.conf");
    std::fs::write(&conf, config).expect("write kannel.conf");
    let conf_arg = conf.to_str().expect("a UTF-8 path");

    let _bearerbox = start(&k.bearerbox, &[conf_arg], d, "bearerbox");
    wait_for(
        "bearerbox to listen for boxes",
        || TcpStream::connect(("127.0.0.1", boxes)).is_ok(),
        d,
    );
    let _smsbox = start(&k.smsbox, &[conf_arg], d, "smsbox");
    wait_for(
        "smsbox to connect to bearerbox",
        || log_contains(d, "smsbox.log", "Connected to bearerbox"),
        d,
    );

    let mut child = Command::new(&k.fakesmsc)
        .args(["-H", "127.0.0.1", "-r", &smsc.to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start fakesmsc");
    let stdin = child.stdin.take().expect("stdin");
    let stderr = child.stderr.take().expect("stderr");
    let (tx, lines) = mpsc::channel();
    let err_log = d.join("fakesmsc.err");
    std::thread::spawn(move || {
        let mut log = std::fs::File::create(err_log).ok();
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(f) = log.as_mut() {
                let _ = writeln!(f, "{line}");
            }
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut fake = FakeSmsc {
        _child: Running(child),
        stdin,
        lines,
    };
    wait_for(
        "fakesmsc to connect to the fake SMSC",
        || log_contains(d, "bearerbox.log", "Fakesmsc client connected"),
        d,
    );

    // English, plain text: the help reply, GSM-7.
    let (text, is_ucs2, n) = fake.ask("13800000001", "text", "HELP");
    assert_eq!(
        text,
        "To check a product, text its code (spaces are fine). To report a fake: JB + code + shop name. To stop reminders: STOP."
    );
    assert!(!is_ucs2);
    assert_eq!(n, 1);

    // Chinese as a handset sends it: UCS-2. The reply is UCS-2, one message.
    let code = demo.code("genuine", 0);
    let (text, is_ucs2, n) = fake.ask("13800000002", "ucs2", &ucs2(&format!("验证 {code}")));
    assert_eq!(
        text,
        "正品：婴幼儿配方奶粉。首次查询。生产企业：宁波甬江食品有限公司。"
    );
    assert!(is_ucs2);
    assert_eq!(n, 1);

    // The same code again from another phone, in full-width digits with the groups: the
    // history is told.
    let fw = zhenwei_tests::full_width(&zhenwei_tests::grouped(code, 4, " "));
    let (text, is_ucs2, _) = fake.ask("13800000003", "ucs2", &ucs2(&format!("查询：{fw}")));
    assert!(
        text.starts_with("正品：婴幼儿配方奶粉。已被查询2次，首次"),
        "{text}"
    );
    assert!(is_ucs2);

    // Chinese that reached Kannel as UTF-8 text (an SMSC that delivers it so).
    let (text, _, _) = fake.ask(
        "13800000004",
        "text",
        &format!("CX{}", demo.code("genuine", 1)),
    );
    assert_eq!(
        text,
        "正品：婴幼儿配方奶粉。首次查询。生产企业：宁波甬江食品有限公司。"
    );

    // A suspect code, then a report of it: the case number comes back.
    let bad = demo.code("not_activated", 0);
    let (text, _, n) = fake.ask("13800000005", "ucs2", &ucs2(bad));
    assert!(
        text.starts_with("疑似假冒：婴幼儿配方奶粉。此码未激活，正规商品不应有此码。举报请回复JB+防伪码，或拨打12315。"),
        "{text}"
    );
    assert_eq!(n, 1);
    let (text, _, n) = fake.ask(
        "13800000005",
        "ucs2",
        &ucs2(&format!("举报 {bad} 西湖路小卖部")),
    );
    assert!(text.starts_with("举报已受理，案件编号"), "{text}");
    assert_eq!(n, 1);

    // An unknown code: please re-check.
    let (text, _, _) = fake.ask("13800000006", "text", "1234 5678 9012 3456 7890");
    assert_eq!(
        text,
        "未查到此码，请核对后重新发送。如仍查不到，商品可能是假冒。"
    );

    // Two codes in one message: one line each, too long for one message, so Kannel sends
    // concatenated parts with a UDH.
    let two = format!("{}，{}", demo.code("genuine", 2), demo.code("recalled", 0));
    let (text, is_ucs2, n) = fake.ask("13800000007", "ucs2", &ucs2(&two));
    assert!(is_ucs2);
    assert!(n >= 2, "{n} parts: {text}");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert!(
        lines[0].starts_with("尾号") && lines[0].contains("：正品：婴幼儿配方奶粉。首次查询。"),
        "{text}"
    );
    assert!(
        lines[1].contains("：正品：风味发酵乳。首次查询。该批次已召回：请立即停止食用"),
        "{text}"
    );

    // Opt-out.
    let (text, _, _) = fake.ask("13800000007", "ucs2", &ucs2("退订"));
    assert_eq!(
        text,
        "已退订，不再向您发送提醒短信。查真伪仍可直接发送防伪码。"
    );

    // A recall of lot NB2026A: the consumers who texted its codes and did not opt out get one
    // notice each through smsbox's sendsms, UCS-2; 13800000007 (opted out) gets none.
    let recall = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/feeds/recall.csv");
    server.cli(["feed", "import", "recall", recall]).ok();
    let notice =
        "【召回】婴幼儿配方奶粉（批号NB2026A）已被召回。请立即停止食用，凭购物凭证到购买处退货。";
    let settled = || {
        let deadline = Instant::now() + LIMIT;
        loop {
            let rows = server.cli(["feed", "notices", "--json"]).ok().json();
            let states: Vec<String> = rows
                .as_array()
                .expect("an array")
                .iter()
                .map(|r| r["state"].as_str().expect("a state").to_owned())
                .collect();
            if states.iter().all(|s| s != "pending" && s != "sending") {
                eprintln!("notices: {rows}");
                return states;
            }
            assert!(Instant::now() < deadline, "notices never settled: {rows}");
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    let states = settled();
    let sent = states.iter().filter(|s| *s == "sent").count();
    assert_eq!(sent, 3, "{states:?}\n{}", tail_logs(d));
    assert_eq!(
        states.iter().filter(|s| *s == "opted_out").count(),
        1,
        "{states:?}"
    );
    let mut receivers = Vec::new();
    let deadline = Instant::now() + LIMIT;
    while receivers.len() < sent {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = fake
            .lines
            .recv_timeout(left)
            .unwrap_or_else(|_| panic!("only {receivers:?} of {sent} notices arrived"));
        let Some(mt) = parse_mt(&line) else { continue };
        assert_eq!(mt.kind, "ucs-2", "{line}");
        assert_eq!(utf16be(&mt.data), notice);
        receivers.push(mt.receiver);
    }
    receivers.sort();
    assert_eq!(
        receivers,
        ["+8613800000002", "+8613800000003", "+8613800000004"]
    );
    // The sendsms MTs are in the outbound log, delivery reports (dlr-url) recorded.
    let deadline = Instant::now() + LIMIT;
    let rows = loop {
        let rows = server.cli(["sms", "receipts", "--json"]).ok().json();
        let rows: Vec<serde_json::Value> = rows.as_array().expect("an array").clone();
        if rows.iter().filter(|r| r["stat"].is_string()).count() >= sent
            || Instant::now() > deadline
        {
            break rows;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(rows.len(), sent, "{rows:?}");
    for r in &rows {
        assert_eq!(
            (r["transport"].as_str(), r["purpose"].as_str()),
            (Some("kannel"), Some("recall")),
            "{r}"
        );
        assert!(
            r["message_id"]
                .as_str()
                .expect("an id")
                .starts_with("kannel-"),
            "{r}"
        );
    }
    for r in &rows {
        // fakesmsc reports SMSC acceptance (type 8) and delivery (type 1); either may be last
        // to arrive, and a final DELIVRD is never overwritten by ACCEPTD.
        assert!(
            matches!(r["stat"].as_str(), Some("ACCEPTD" | "DELIVRD")),
            "{r}"
        );
    }

    // Asked again, the same code carries the recall and its own advice (issue 8 over Kannel); the
    // first query's city comes from the number's segment (docs/numbers/example.csv).
    let (text, is_ucs2, n) = fake.ask("13800000002", "ucs2", &ucs2(code));
    assert_eq!(
        zhenwei_tests::sms_without_time(&text),
        "正品：婴幼儿配方奶粉。已被查询3次，首次<time>在杭州。该批次已召回：请立即停止食用，凭购物凭证到购买处退货。"
    );
    assert!(is_ucs2);
    assert_eq!(n, 1, "within one UCS-2 segment");
}
