//! The user agent server core and its dialogs (RFC 3261 §8.2, §12–15), without I/O.
//!
//! [`Uas`] takes what arrives — bytes from a peer ([`Uas::on_bytes`] for a datagram,
//! [`Uas::on_parsed`] for a framed stream message), a command for a call, the current time — and
//! queues [`Output`]s: bytes to send, a stream to close, call events. The shell drains them with
//! [`Uas::poll_output`] and calls [`Uas::on_timer`] at [`Uas::next_deadline`].
//!
//! What a request gets, in the order RFC 3261 §8.2 checks it:
//!
//! | condition | answer |
//! |---|---|
//! | unparseable / essential header missing or malformed | 400 (505 for another SIP version) |
//! | source neither loopback nor a configured trunk | 403 |
//! | unknown method / known but not ours (REGISTER, SUBSCRIBE…) | 501 / 405, with `Allow` |
//! | Request-URI not `sip:`/`sips:` | 416 |
//! | `Max-Forwards: 0` | 483 |
//! | `Require` (we support no extension) | 420 with `Unsupported` |
//! | To tag naming no dialog we have; CANCEL matching nothing | 481 |
//! | INVITE whose `Accept` excludes SDP / body not SDP | 406 / 415 |
//! | INVITE offer refused by the call side | 488 (or its [`Reject`]) |
//!
//! An INVITE is answered 100, 180, then 200 with the SDP answer (after `answer_delay`, during
//! which a CANCEL gets 200 and the INVITE 487). OPTIONS gets 200 with `Allow` and `Accept` and
//! nothing that names our software. Responses go back where the request came from (UDP source
//! address, or the same connection) — symmetric signalling, which is what `rport` asks for and
//! what a trunk behind NAT needs.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use super::call::{Answer, CallCommand, CallEvent, CallId, CallInfo, EndReason};
use super::headers::{canonical, Headers, NameAddr, MAGIC_COOKIE};
use super::message::{parse_datagram, Invalid, Parsed, Request, Response};
use super::transaction::{
    InviteServer, InviteState, NonInviteClient, NonInviteServer, TxAction, TxKey,
};
use super::uri::Uri;

/// Methods we answer.
pub const ALLOW: &str = "INVITE, ACK, BYE, CANCEL, OPTIONS, INFO, NOTIFY";
/// Methods we know but do not take (405 rather than 501).
const KNOWN: &[&str] = &[
    "REGISTER",
    "SUBSCRIBE",
    "PUBLISH",
    "MESSAGE",
    "UPDATE",
    "PRACK",
    "REFER",
];
/// Bodies we read.
const ACCEPT_INVITE: &str = "application/sdp";
const ACCEPT_INFO: &str = "application/dtmf-relay, application/dtmf";

/// Which transport a message came over.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Transport {
    Udp,
    Tcp,
    Tls,
}

impl Transport {
    pub fn reliable(self) -> bool {
        !matches!(self, Transport::Udp)
    }

    fn via_name(self) -> &'static str {
        match self {
            Transport::Udp => "UDP",
            Transport::Tcp => "TCP",
            Transport::Tls => "TLS",
        }
    }
}

/// Where a message came from and how to answer it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Peer {
    pub transport: Transport,
    /// The remote address.
    pub addr: SocketAddr,
    /// Our address it reached.
    pub local: SocketAddr,
    /// The stream connection (TCP/TLS), to answer on the same one.
    pub conn: Option<u64>,
}

/// What the shell must do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Output {
    Send {
        to: Peer,
        bytes: Vec<u8>,
    },
    /// Close this stream connection (after a framing error; the answer was queued before).
    Close {
        to: Peer,
    },
    Event {
        call: CallInfo,
        event: CallEvent,
    },
}

/// An allowed source network: an address and a prefix length.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Net {
    pub addr: IpAddr,
    pub prefix: u8,
}

impl std::str::FromStr for Net {
    type Err = String;

    /// `192.0.2.10`, `192.0.2.0/24`, `2001:db8::/32`.
    fn from_str(s: &str) -> Result<Net, String> {
        let (a, p) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: IpAddr = a.trim().parse().map_err(|e| format!("{s:?}: {e}"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match p {
            Some(p) => p
                .trim()
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("{s:?}: prefix length must be 0..={max}"))?,
            None => max,
        };
        Ok(Net { addr, prefix })
    }
}

impl Net {
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
            v4 => v4,
        };
        match (self.addr, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(n) & mask == u32::from(a) & mask
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(n) & mask == u128::from(a) & mask
            }
            _ => false,
        }
    }
}

/// How the user agent behaves.
#[derive(Clone, Debug)]
pub struct UasConfig {
    /// Who may send us requests besides loopback (the carrier's trunk).
    pub trunks: Vec<Net>,
    /// The host (and port) for our Contact; the local address of the socket when `None`.
    pub contact_host: Option<String>,
    /// How long an INVITE rings before we answer (0: answer at once).
    pub answer_delay: Duration,
}

impl Default for UasConfig {
    fn default() -> Self {
        UasConfig {
            trunks: Vec::new(),
            contact_host: None,
            answer_delay: Duration::ZERO,
        }
    }
}

#[derive(Debug)]
enum ServerTx {
    Invite(InviteServer),
    NonInvite(NonInviteServer),
}

#[derive(Debug)]
struct ServerEntry {
    tx: ServerTx,
    peer: Peer,
    /// The call an INVITE transaction belongs to.
    call: Option<CallId>,
}

#[derive(Debug)]
struct ClientEntry {
    tx: NonInviteClient,
    peer: Peer,
    call: CallId,
    method: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum DialogState {
    /// 180 sent; the 200 goes out at `answer_at`.
    Early,
    /// 200 sent, waiting for the ACK.
    Accepted,
    Confirmed,
}

#[derive(Debug)]
struct Dialog {
    info: CallInfo,
    state: DialogState,
    peer: Peer,
    call_id: String,
    local_tag: String,
    remote_tag: String,
    /// Our URI (the INVITE's To, without tag) and theirs (its From).
    local_uri: String,
    remote_uri: String,
    remote_target: String,
    route_set: Vec<String>,
    local_cseq: u32,
    remote_cseq: u32,
    /// The INVITE transaction (initial or re-INVITE) whose 2xx awaits its ACK.
    invite: Option<TxKey>,
    /// The request of that INVITE, to build the 200 from.
    invite_request: Option<Box<Request>>,
    answer_at: Option<Instant>,
    answer_sdp: String,
    remote_sdp: String,
    started: bool,
}

/// What a timer entry refers to.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum TimerRef {
    Server(TxKey),
    Client(String),
    Answer(CallId),
}

/// The user agent server.
#[derive(Debug)]
pub struct Uas {
    /// Deadlines, earliest first. An entry may be stale (its owner moved its deadline or is
    /// gone); it is checked against the owner when it comes due, so arming never searches.
    timers: BinaryHeap<Reverse<(Instant, TimerRef)>>,
    config: UasConfig,
    server: HashMap<TxKey, ServerEntry>,
    client: HashMap<String, ClientEntry>,
    dialogs: HashMap<CallId, Dialog>,
    out: VecDeque<Output>,
    next_call: CallId,
}

impl Uas {
    pub fn new(config: UasConfig) -> Uas {
        Uas {
            config,
            server: HashMap::new(),
            client: HashMap::new(),
            dialogs: HashMap::new(),
            out: VecDeque::new(),
            next_call: 1,
            timers: BinaryHeap::new(),
        }
    }

    /// The next thing to do, if any.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.out.pop_front()
    }

    /// Calls in progress (dialogs).
    pub fn calls(&self) -> usize {
        self.dialogs.len()
    }

    /// Transactions in progress.
    pub fn transactions(&self) -> usize {
        self.server.len() + self.client.len()
    }

    /// A datagram arrived.
    pub fn on_bytes(&mut self, now: Instant, peer: Peer, bytes: &[u8], answer: &mut dyn Answer) {
        let parsed = parse_datagram(bytes);
        self.on_parsed(now, peer, parsed, answer);
    }

    /// A framed message arrived.
    pub fn on_parsed(&mut self, now: Instant, peer: Peer, parsed: Parsed, answer: &mut dyn Answer) {
        match parsed {
            Parsed::Request(r) => self.on_request(now, peer, r, answer),
            Parsed::Response(r) => self.on_response(now, &r),
            Parsed::Invalid(i) => self.on_invalid(peer, &i),
            Parsed::KeepAlive => {
                if peer.transport.reliable() {
                    self.out.push_back(Output::Send {
                        to: peer,
                        bytes: b"\r\n".to_vec(),
                    });
                }
            }
        }
    }

    /// When [`on_timer`](Self::on_timer) must next be called (possibly early).
    pub fn next_deadline(&self) -> Option<Instant> {
        self.timers.peek().map(|Reverse((at, _))| *at)
    }

    /// The current deadline of a timer's owner.
    fn deadline_of(&self, r: &TimerRef) -> Option<Instant> {
        match r {
            TimerRef::Server(key) => self.server.get(key).and_then(|e| match &e.tx {
                ServerTx::Invite(t) => t.next_deadline(),
                ServerTx::NonInvite(t) => t.next_deadline(),
            }),
            TimerRef::Client(branch) => self.client.get(branch).and_then(|e| e.tx.next_deadline()),
            TimerRef::Answer(id) => self.dialogs.get(id).and_then(|d| d.answer_at),
        }
    }

    /// Records the owner's current deadline.
    fn arm(&mut self, r: TimerRef) {
        if let Some(at) = self.deadline_of(&r) {
            self.timers.push(Reverse((at, r)));
        }
    }

    /// Time has passed.
    pub fn on_timer(&mut self, now: Instant) {
        while let Some(Reverse((at, _))) = self.timers.peek() {
            if *at > now {
                break;
            }
            let Some(Reverse((_, r))) = self.timers.pop() else {
                break;
            };
            if self.deadline_of(&r).is_none_or(|t| t > now) {
                continue; // stale
            }
            match r {
                TimerRef::Answer(id) => self.send_answer(now, id),
                TimerRef::Server(key) => {
                    let Some(e) = self.server.get_mut(&key) else {
                        continue;
                    };
                    let actions = match &mut e.tx {
                        ServerTx::Invite(t) => t.on_timer(now),
                        ServerTx::NonInvite(t) => t.on_timer(now),
                    };
                    self.apply_server(now, &key, actions);
                }
                TimerRef::Client(branch) => {
                    let Some(e) = self.client.get_mut(&branch) else {
                        continue;
                    };
                    let actions = e.tx.on_timer(now);
                    let to = e.peer;
                    for a in actions {
                        match a {
                            TxAction::Send(bytes) => self.out.push_back(Output::Send { to, bytes }),
                            TxAction::Timeout => {
                                tracing::debug!(%branch, "in-dialog request timed out")
                            }
                            TxAction::Terminated => {
                                self.client.remove(&branch);
                            }
                        }
                    }
                    self.arm(TimerRef::Client(branch));
                }
            }
        }
    }

    /// The call side asks for something.
    pub fn command(&mut self, now: Instant, call: CallId, command: CallCommand) {
        let Some(d) = self.dialogs.get(&call) else {
            return;
        };
        match command {
            CallCommand::Hangup => match d.state {
                DialogState::Early => {
                    let key = d.invite.clone();
                    let request = d.invite_request.clone();
                    let tag = d.local_tag.clone();
                    if let (Some(key), Some(request)) = (key, request) {
                        let bytes = response(&request, 480, Some(&tag)).to_bytes();
                        self.respond_tx(now, &key, 480, bytes);
                    }
                    self.end(call, EndReason::LocalBye);
                }
                DialogState::Accepted | DialogState::Confirmed => {
                    self.send_in_dialog(now, call, "BYE", Headers::default(), Vec::new());
                    self.end(call, EndReason::LocalBye);
                }
            },
            CallCommand::Transfer { target } => {
                let mut h = Headers::default();
                h.push("Refer-To", format!("<{target}>"));
                h.push("Referred-By", format!("<{}>", d.local_uri));
                self.send_in_dialog(now, call, "REFER", h, Vec::new());
            }
        }
    }

    fn on_invalid(&mut self, peer: Peer, invalid: &Invalid) {
        let is_ack = invalid
            .headers
            .get("cseq")
            .is_some_and(|c| c.trim_end().ends_with("ACK"));
        if invalid.is_request && !is_ack {
            let mut r = Response::to_headers(&invalid.headers, invalid.status);
            if invalid.status == 400 {
                r.reason = invalid
                    .why
                    .chars()
                    .filter(|c| c.is_ascii_graphic() || *c == ' ')
                    .take(120)
                    .collect();
            }
            add_to_tag(&mut r.headers, &new_tag());
            tracing::debug!(peer = %peer.addr, status = invalid.status, why = %invalid.why, "malformed request");
            self.out.push_back(Output::Send {
                to: peer,
                bytes: r.to_bytes(),
            });
        }
        if invalid.close {
            self.out.push_back(Output::Close { to: peer });
        }
    }

    fn on_response(&mut self, now: Instant, r: &Response) {
        let Some(branch) = r.top_branch() else {
            return;
        };
        let Some(e) = self.client.get_mut(&branch) else {
            return; // No client transaction of ours: absorb (RFC 3261 §18.1.2).
        };
        let (deliver, actions) = e.tx.on_response(r.status, now);
        let (call, method) = (e.call, e.method.clone());
        if actions.contains(&TxAction::Terminated) {
            self.client.remove(&branch);
        } else {
            self.arm(TimerRef::Client(branch));
        }
        if deliver && method == "REFER" && r.status >= 300 {
            self.emit(
                call,
                CallEvent::Transfer {
                    status: r.status,
                    final_: true,
                },
            );
        }
    }

    fn on_request(
        &mut self,
        now: Instant,
        peer: Peer,
        mut r: Box<Request>,
        answer: &mut dyn Answer,
    ) {
        r.stamp_source(peer.addr);
        if r.method == "ACK" {
            return self.on_ack(now, &r);
        }
        let key = TxKey::of(&r);
        if let Some(e) = self.server.get_mut(&key) {
            // A retransmission: answered where it came from this time (a new connection).
            e.peer = peer;
            let actions = match &mut e.tx {
                ServerTx::Invite(t) => t.on_request(),
                ServerTx::NonInvite(t) => t.on_request(),
            };
            return self.apply_server(now, &key, actions);
        }
        if !self.allowed(peer.addr.ip()) {
            tracing::info!(peer = %peer.addr, method = %r.method, "refused: not a configured trunk");
            return self.reply(now, peer, &r, 403, Headers::default());
        }
        let method = r.method.clone();
        if method == "REGISTER" && r.to.uri.as_sip().is_none() {
            // RFC 3261 §10.3: a REGISTER's To is an address-of-record, a SIP or SIPS URI.
            let mut h = Headers::default();
            h.push("Warning", "399 - \"To must be a SIP URI\"");
            return self.reply(now, peer, &r, 400, h);
        }
        if !ALLOW.split(", ").any(|m| m == method) {
            let status = if KNOWN.contains(&method.as_str()) {
                405
            } else {
                501
            };
            let mut h = Headers::default();
            h.push("Allow", ALLOW);
            return self.reply(now, peer, &r, status, h);
        }
        if r.uri.as_sip().is_none() {
            return self.reply(now, peer, &r, 416, Headers::default());
        }
        if r.max_forwards == Some(0) {
            return self.reply(now, peer, &r, 483, Headers::default());
        }
        if method != "CANCEL" {
            let required = r.headers.values("require").unwrap_or_default();
            if !required.is_empty() {
                let mut h = Headers::default();
                h.push("Unsupported", required.join(", "));
                return self.reply(now, peer, &r, 420, h);
            }
        }
        if method == "CANCEL" {
            return self.on_cancel(now, peer, &r);
        }
        if r.to.tag().is_some() {
            match self.dialog_of(&r) {
                Some(call) => return self.in_dialog(now, peer, call, r, answer),
                // An INVITE for a dialog we do not know (we restarted, RFC 3261 §12.2.2):
                // recreate the dialog under the tag the caller already has.
                None if method == "INVITE" => {}
                None => return self.reply(now, peer, &r, 481, Headers::default()),
            }
        }
        match method.as_str() {
            "INVITE" => self.on_invite(now, peer, r, answer),
            "OPTIONS" => {
                let h = capabilities();
                self.reply(now, peer, &r, 200, h)
            }
            _ => self.reply(now, peer, &r, 481, Headers::default()),
        }
    }

    fn allowed(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
            v4 => v4,
        };
        ip.is_loopback() || self.config.trunks.iter().any(|n| n.contains(ip))
    }

    fn dialog_of(&self, r: &Request) -> Option<CallId> {
        let local = r.to.tag()?;
        let remote = r.from.tag().unwrap_or_default();
        self.dialogs
            .iter()
            .find(|(_, d)| d.call_id == r.call_id && d.local_tag == local && d.remote_tag == remote)
            .map(|(id, _)| *id)
    }

    fn on_ack(&mut self, now: Instant, r: &Request) {
        // An ACK to an error response belongs to the INVITE transaction.
        let key = TxKey::of(r);
        if let Some(ServerEntry {
            tx: ServerTx::Invite(t),
            ..
        }) = self.server.get_mut(&key)
        {
            if t.state() == InviteState::Completed {
                let actions = t.on_ack(now);
                return self.apply_server(now, &key, actions);
            }
        }
        // An ACK to a 2xx is its own transaction, matched by the dialog.
        let Some(call) = self.dialog_of(r) else {
            return;
        };
        let Some(d) = self.dialogs.get_mut(&call) else {
            return;
        };
        if d.state != DialogState::Accepted
            || d.invite_request.as_ref().map(|i| i.cseq.number) != Some(r.cseq.number)
        {
            return;
        }
        d.state = DialogState::Confirmed;
        let first = !d.started;
        d.started = true;
        let remote_sdp = d.remote_sdp.clone();
        d.invite_request = None;
        if let Some(key) = d.invite.take() {
            if let Some(ServerEntry {
                tx: ServerTx::Invite(t),
                ..
            }) = self.server.get_mut(&key)
            {
                let actions = t.on_ack(now);
                self.apply_server(now, &key, actions);
            }
        }
        if first {
            self.emit(call, CallEvent::Started { remote_sdp });
        }
    }

    fn on_cancel(&mut self, now: Instant, peer: Peer, r: &Request) {
        let invite_key = TxKey::with_method(r, "INVITE");
        let Some(entry) = self.server.get(&invite_key) else {
            return self.reply(now, peer, r, 481, Headers::default());
        };
        let proceeding =
            matches!(&entry.tx, ServerTx::Invite(t) if t.state() == InviteState::Proceeding);
        let call = entry.call;
        self.reply(now, peer, r, 200, Headers::default());
        if !proceeding {
            return;
        }
        let Some(call) = call else { return };
        let Some(d) = self.dialogs.get(&call) else {
            return;
        };
        if let Some(invite) = d.invite_request.clone() {
            let bytes = response(&invite, 487, Some(&d.local_tag)).to_bytes();
            self.respond_tx(now, &invite_key, 487, bytes);
        }
        self.end(call, EndReason::Cancelled);
    }

    /// Checks the body of an INVITE; `Some((status, headers))` when it must be refused.
    fn refuse_invite_body(r: &Request) -> Option<(u16, Headers)> {
        let accepts_sdp = r.headers.get("accept").is_none()
            || ["application/sdp", "application/*", "*/*"]
                .iter()
                .any(|t| r.headers.lists("accept", t));
        if !accepts_sdp {
            let mut h = Headers::default();
            h.push(
                "Warning",
                "399 - \"Only application/sdp bodies can be sent\"",
            );
            return Some((406, h));
        }
        if r.content_type().as_deref() != Some("application/sdp") || r.body.is_empty() {
            let mut h = Headers::default();
            h.push("Accept", ACCEPT_INVITE);
            let status = if r.body.is_empty() { 488 } else { 415 };
            if status == 488 {
                h.push("Warning", "399 - \"An SDP offer is required\"");
            }
            return Some((status, h));
        }
        None
    }

    fn on_invite(&mut self, now: Instant, peer: Peer, r: Box<Request>, answer: &mut dyn Answer) {
        if let Some((status, h)) = Self::refuse_invite_body(&r) {
            return self.reply(now, peer, &r, status, h);
        }
        let key = TxKey::of(&r);
        self.server.insert(
            key.clone(),
            ServerEntry {
                tx: ServerTx::Invite(InviteServer::new(peer.transport.reliable())),
                peer,
                call: None,
            },
        );
        let trying = response(&r, 100, None).to_bytes();
        self.respond_tx(now, &key, 100, trying);
        let id = self.next_call;
        self.next_call += 1;
        let info = CallInfo {
            id,
            sip_call_id: r.call_id.clone(),
            caller: r.from.uri.to_string(),
            dialled: r.uri.to_string(),
            remote: peer.addr,
        };
        let offer = String::from_utf8_lossy(&r.body).into_owned();
        let tag = r.to.tag().map(str::to_string).unwrap_or_else(new_tag);
        let sdp = match answer.answer(&info, &offer) {
            Ok(sdp) => sdp,
            Err(reject) => {
                let bytes = response(&r, reject.status(), Some(&tag)).to_bytes();
                return self.respond_tx(now, &key, reject.status(), bytes);
            }
        };
        if let Some(e) = self.server.get_mut(&key) {
            e.call = Some(id);
        }
        let remote_target = r
            .headers
            .values("contact")
            .ok()
            .and_then(|c| c.first().and_then(|c| NameAddr::parse(c, "contact").ok()))
            .map(|c| c.uri.to_string())
            .unwrap_or_else(|| r.from.uri.to_string());
        let route_set = r
            .headers
            .values("record-route")
            .unwrap_or_default()
            .into_iter()
            .map(str::to_string)
            .collect();
        let mut ringing = response(&r, 180, Some(&tag));
        ringing.headers.push("Contact", self.contact(&peer));
        let ringing = ringing.to_bytes();
        self.respond_tx(now, &key, 180, ringing);
        self.dialogs.insert(
            id,
            Dialog {
                info,
                state: DialogState::Early,
                peer,
                call_id: r.call_id.clone(),
                local_tag: tag,
                remote_tag: r.from.tag().unwrap_or_default().to_string(),
                local_uri: r.to.uri.to_string(),
                remote_uri: r.from.uri.to_string(),
                remote_target,
                route_set,
                local_cseq: 0,
                remote_cseq: r.cseq.number,
                invite: Some(key),
                answer_at: Some(now + self.config.answer_delay),
                answer_sdp: sdp,
                remote_sdp: offer,
                invite_request: Some(r),
                started: false,
            },
        );
        if self.config.answer_delay.is_zero() {
            self.send_answer(now, id);
        } else {
            self.arm(TimerRef::Answer(id));
        }
    }

    /// Sends the 200 OK with the SDP answer for the dialog's pending INVITE.
    fn send_answer(&mut self, now: Instant, call: CallId) {
        let contact = match self.dialogs.get(&call) {
            Some(d) => self.contact(&d.peer),
            None => return,
        };
        let Some(d) = self.dialogs.get_mut(&call) else {
            return;
        };
        d.answer_at = None;
        let (Some(key), Some(request)) = (d.invite.clone(), d.invite_request.as_ref()) else {
            return;
        };
        let mut ok = response(request, 200, Some(&d.local_tag));
        ok.headers.push("Contact", contact);
        ok.headers.push("Allow", ALLOW);
        ok.headers.push("Content-Type", "application/sdp");
        ok.body = d.answer_sdp.clone().into_bytes();
        d.state = DialogState::Accepted;
        self.respond_tx(now, &key, 200, ok.to_bytes());
    }

    fn in_dialog(
        &mut self,
        now: Instant,
        peer: Peer,
        call: CallId,
        r: Box<Request>,
        answer: &mut dyn Answer,
    ) {
        let Some(d) = self.dialogs.get_mut(&call) else {
            return;
        };
        if r.cseq.number <= d.remote_cseq {
            return self.reply(now, peer, &r, 500, Headers::default());
        }
        d.remote_cseq = r.cseq.number;
        match r.method.as_str() {
            "BYE" => {
                self.reply(now, peer, &r, 200, Headers::default());
                self.end(call, EndReason::RemoteBye);
            }
            "INVITE" => self.on_reinvite(now, peer, call, r, answer),
            "INFO" => self.on_info(now, peer, call, &r),
            "NOTIFY" => {
                let status = r
                    .body
                    .get(..12)
                    .and_then(|l| std::str::from_utf8(l).ok())
                    .and_then(|l| {
                        l.strip_prefix("SIP/2.0 ")
                            .and_then(|c| c.trim().parse::<u16>().ok())
                    });
                let final_ = r
                    .headers
                    .get("subscription-state")
                    .is_some_and(|s| s.trim().to_ascii_lowercase().starts_with("terminated"));
                self.reply(now, peer, &r, 200, Headers::default());
                if let Some(status) = status {
                    self.emit(call, CallEvent::Transfer { status, final_ });
                }
            }
            "OPTIONS" => {
                let h = capabilities();
                self.reply(now, peer, &r, 200, h)
            }
            _ => {
                let mut h = Headers::default();
                h.push("Allow", ALLOW);
                self.reply(now, peer, &r, 405, h)
            }
        }
    }

    fn on_reinvite(
        &mut self,
        now: Instant,
        peer: Peer,
        call: CallId,
        r: Box<Request>,
        answer: &mut dyn Answer,
    ) {
        if let Some((status, h)) = Self::refuse_invite_body(&r) {
            return self.reply(now, peer, &r, status, h);
        }
        let Some(d) = self.dialogs.get(&call) else {
            return;
        };
        if d.state != DialogState::Confirmed {
            // A re-INVITE while the previous one is unanswered (RFC 3261 §14.2).
            let mut h = Headers::default();
            h.push("Retry-After", "1");
            return self.reply(now, peer, &r, 500, h);
        }
        let info = d.info.clone();
        let tag = d.local_tag.clone();
        let key = TxKey::of(&r);
        self.server.insert(
            key.clone(),
            ServerEntry {
                tx: ServerTx::Invite(InviteServer::new(peer.transport.reliable())),
                peer,
                call: Some(call),
            },
        );
        let offer = String::from_utf8_lossy(&r.body).into_owned();
        match answer.answer(&info, &offer) {
            Err(reject) => {
                let bytes = response(&r, reject.status(), Some(&tag)).to_bytes();
                self.respond_tx(now, &key, reject.status(), bytes);
            }
            Ok(sdp) => {
                let hold = is_hold(&offer);
                if let Some(d) = self.dialogs.get_mut(&call) {
                    d.answer_sdp = sdp;
                    d.remote_sdp = offer.clone();
                    d.invite = Some(key);
                    d.invite_request = Some(r);
                    d.state = DialogState::Early;
                }
                self.send_answer(now, call);
                self.emit(
                    call,
                    CallEvent::Reoffered {
                        remote_sdp: offer,
                        hold,
                    },
                );
            }
        }
    }

    fn on_info(&mut self, now: Instant, peer: Peer, call: CallId, r: &Request) {
        let body = String::from_utf8_lossy(&r.body);
        let digit = match r.content_type().as_deref() {
            None if r.body.is_empty() => None,
            Some("application/dtmf-relay") => {
                let mut signal = None;
                let mut duration = None;
                for line in body.lines() {
                    if let Some((k, v)) = line.split_once('=') {
                        match k.trim().to_ascii_lowercase().as_str() {
                            "signal" => signal = dtmf_digit(v.trim()),
                            "duration" => duration = v.trim().parse().ok(),
                            _ => {}
                        }
                    }
                }
                match signal {
                    Some(d) => Some((d, duration)),
                    None => return self.reply(now, peer, r, 400, Headers::default()),
                }
            }
            Some("application/dtmf") => match dtmf_digit(body.trim()) {
                Some(d) => Some((d, None)),
                None => return self.reply(now, peer, r, 400, Headers::default()),
            },
            _ => {
                let mut h = Headers::default();
                h.push("Accept", ACCEPT_INFO);
                return self.reply(now, peer, r, 415, h);
            }
        };
        self.reply(now, peer, r, 200, Headers::default());
        if let Some((digit, duration_ms)) = digit {
            self.emit(call, CallEvent::Dtmf { digit, duration_ms });
        }
    }

    /// Sends a request inside the dialog as a new client transaction.
    fn send_in_dialog(
        &mut self,
        now: Instant,
        call: CallId,
        method: &str,
        extra: Headers,
        body: Vec<u8>,
    ) {
        let contact = match self.dialogs.get(&call) {
            Some(d) => self.contact(&d.peer),
            None => return,
        };
        let Some(d) = self.dialogs.get_mut(&call) else {
            return;
        };
        d.local_cseq += 1;
        let branch = format!("{MAGIC_COOKIE}{}", new_tag());
        let mut h = Headers::default();
        h.push(
            "Via",
            format!(
                "SIP/2.0/{} {};branch={branch};rport",
                d.peer.transport.via_name(),
                d.peer.local
            ),
        );
        h.push("Max-Forwards", "70");
        h.push("From", format!("<{}>;tag={}", d.local_uri, d.local_tag));
        h.push("To", format!("<{}>;tag={}", d.remote_uri, d.remote_tag));
        h.push("Call-ID", d.call_id.clone());
        h.push("CSeq", format!("{} {method}", d.local_cseq));
        for route in &d.route_set {
            h.push("Route", route.clone());
        }
        h.push("Contact", contact);
        h.0.extend(extra.0);
        let uri = Uri::parse(&d.remote_target).unwrap_or_else(|_| d.info_uri());
        let request = Request {
            method: method.to_string(),
            uri,
            headers: h,
            body,
            via: Vec::new(),
            from: placeholder_name_addr(),
            to: placeholder_name_addr(),
            call_id: d.call_id.clone(),
            cseq: super::headers::CSeq {
                number: d.local_cseq,
                method: method.to_string(),
            },
            max_forwards: Some(70),
        };
        let peer = d.peer;
        let (tx, actions) =
            NonInviteClient::start(request.to_bytes(), peer.transport.reliable(), now);
        self.client.insert(
            branch.clone(),
            ClientEntry {
                tx,
                peer,
                call,
                method: method.to_string(),
            },
        );
        self.arm(TimerRef::Client(branch));
        for a in actions {
            if let TxAction::Send(bytes) = a {
                self.out.push_back(Output::Send { to: peer, bytes });
            }
        }
    }

    fn contact(&self, peer: &Peer) -> String {
        let host = self
            .config
            .contact_host
            .clone()
            .unwrap_or_else(|| peer.local.to_string());
        match peer.transport {
            Transport::Udp => format!("<sip:ivr@{host}>"),
            Transport::Tcp => format!("<sip:ivr@{host};transport=tcp>"),
            Transport::Tls => format!("<sips:ivr@{host}>"),
        }
    }

    fn emit(&mut self, call: CallId, event: CallEvent) {
        if let Some(d) = self.dialogs.get(&call) {
            self.out.push_back(Output::Event {
                call: d.info.clone(),
                event,
            });
        }
    }

    fn end(&mut self, call: CallId, reason: EndReason) {
        self.emit(call, CallEvent::Ended { reason });
        self.dialogs.remove(&call);
    }

    /// Answers `r` with a final response through a new server transaction.
    fn reply(&mut self, now: Instant, peer: Peer, r: &Request, status: u16, extra: Headers) {
        let key = TxKey::of(r);
        let tx = if r.method == "INVITE" {
            ServerTx::Invite(InviteServer::new(peer.transport.reliable()))
        } else {
            ServerTx::NonInvite(NonInviteServer::new(peer.transport.reliable()))
        };
        self.server.entry(key.clone()).or_insert(ServerEntry {
            tx,
            peer,
            call: None,
        });
        let tag = r.to.tag().map(str::to_string).unwrap_or_else(new_tag);
        let mut resp = response(r, status, Some(&tag));
        resp.headers.0.extend(extra.0);
        self.respond_tx(now, &key, status, resp.to_bytes());
    }

    fn respond_tx(&mut self, now: Instant, key: &TxKey, status: u16, bytes: Vec<u8>) {
        let Some(e) = self.server.get_mut(key) else {
            return;
        };
        let actions = match &mut e.tx {
            ServerTx::Invite(t) => t.respond(status, bytes, now),
            ServerTx::NonInvite(t) => t.respond(status, bytes, now),
        };
        self.apply_server(now, key, actions);
    }

    fn apply_server(&mut self, now: Instant, key: &TxKey, actions: Vec<TxAction>) {
        let Some(e) = self.server.get(key) else {
            return;
        };
        let (peer, call) = (e.peer, e.call);
        for a in actions {
            match a {
                TxAction::Send(bytes) => self.out.push_back(Output::Send { to: peer, bytes }),
                TxAction::Timeout => {
                    // A 2xx never acknowledged: the session ends with a BYE (RFC 3261 §13.3.1.4).
                    let Some(call) = call else { continue };
                    let awaiting = self.dialogs.get(&call).is_some_and(|d| {
                        d.state == DialogState::Accepted && d.invite.as_ref() == Some(key)
                    });
                    if awaiting {
                        self.send_in_dialog(now, call, "BYE", Headers::default(), Vec::new());
                        self.end(call, EndReason::NoAck);
                    }
                }
                TxAction::Terminated => {
                    self.server.remove(key);
                }
            }
        }
        self.arm(TimerRef::Server(key.clone()));
    }
}

impl Dialog {
    fn info_uri(&self) -> Uri {
        Uri::Other {
            scheme: "sip".into(),
            rest: self.peer.addr.to_string(),
        }
    }
}

fn placeholder_name_addr() -> NameAddr {
    NameAddr {
        display: None,
        uri: Uri::Other {
            scheme: "sip".into(),
            rest: String::new(),
        },
        bracketed: true,
        params: Vec::new(),
    }
}

/// `Allow` and `Accept` — what OPTIONS reveals. No `Server`, `User-Agent` or `Supported`.
fn capabilities() -> Headers {
    let mut h = Headers::default();
    h.push("Allow", ALLOW);
    h.push("Accept", ACCEPT_INVITE);
    h
}

/// A response to `r`, with our To tag when `tag` is given and the request had none.
fn response(r: &Request, status: u16, tag: Option<&str>) -> Response {
    let mut resp = Response::to_headers(&r.headers, status);
    if let (Some(tag), true) = (tag, status > 100) {
        add_to_tag(&mut resp.headers, tag);
    }
    resp
}

fn add_to_tag(headers: &mut Headers, tag: &str) {
    let want = canonical("to");
    if let Some(to) = headers.0.iter_mut().find(|h| canonical(&h.name) == want) {
        let has_tag = NameAddr::parse(&to.value, "to")
            .map(|n| n.tag().is_some())
            .unwrap_or(true);
        if !has_tag {
            to.value = format!("{};tag={tag}", to.value);
        }
    }
}

/// A fresh random tag or branch suffix.
fn new_tag() -> String {
    format!("{:016x}", rand::random::<u64>())
}

/// A DTMF digit as SIP INFO bodies write it: `0`–`9`, `*`, `#`, `A`–`D`, or the event codes
/// `10` (`*`) and `11` (`#`).
fn dtmf_digit(s: &str) -> Option<char> {
    match s {
        "10" => Some('*'),
        "11" => Some('#'),
        _ => {
            let mut chars = s.chars();
            let c = chars.next()?.to_ascii_uppercase();
            (chars.next().is_none() && (c.is_ascii_digit() || "*#ABCD".contains(c))).then_some(c)
        }
    }
}

/// Whether an offer puts the call on hold (RFC 3264 §8.4, and the older `c=0.0.0.0`).
fn is_hold(offer: &str) -> bool {
    offer.lines().any(|l| {
        let l = l.trim();
        l == "a=sendonly" || l == "a=inactive" || l == "c=IN IP4 0.0.0.0"
    })
}

#[cfg(test)]
mod tests;
