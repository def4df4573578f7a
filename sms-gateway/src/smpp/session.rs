//! # The ESME session as a sans-I/O state machine
//!
//! [`Session`] owns everything an SMPP transceiver session decides, and nothing it does: it is
//! fed events — the connection came up ([`Session::connected`]), bytes arrived
//! ([`Session::receive`]), time passed ([`Session::tick`]), an MO was handled
//! ([`Session::mo_handled`]), the connection went down ([`Session::disconnected`]) — and it
//! answers with bytes to write ([`Session::take_output`]) and [`Event`]s for the driver
//! ([`Session::poll_event`]), plus the instant it next wants a `tick` ([`Session::poll_timeout`]).
//! The tokio shell in [`super::esme`] is a loop around those calls; the tests here drive it with
//! hand-made PDUs and a fake clock.
//!
//! ```text
//!   connected ──► Binding ──bind_transceiver_resp OK──► Bound ──unbind──► Unbinding ──► Closed
//!                    │ error / timeout                    │ timeout / unbind from SMSC / bad frame
//!                    └────────────► Close event ◄─────────┘        (driver reconnects with backoff)
//! ```
//!
//! ## No MO lost
//! An SMSC keeps a `deliver_sm` until the ESME acknowledges it with `deliver_sm_resp`, and
//! redelivers it on a later bind if the acknowledgement never came. So the session acknowledges
//! an MO only after the driver reports it handled ([`Session::mo_handled`]): by then the core has
//! recorded the query and the reply sits in the send queue. The parts of a concatenated MO are
//! all held unacknowledged until the whole text is handled (or the reassembly timeout hands over
//! what arrived). If the connection drops first, the acknowledgements are simply never sent and
//! the SMSC redelivers; the price is at-least-once handling (a redelivered MO is verified, and
//! answered, again), never a lost one.
//!
//! ## Sending
//! Replies are split with [`crate::coding::split`] into parts (UDH + `esm_class` 0x40 when
//! concatenated) and queued. A part is sent when the window has room (at most `window`
//! `submit_sm` awaiting their response) and the token bucket allows (`rate` per second, bursts of
//! a tenth of a second). Parts in flight when the connection drops, or refused with
//! ESME_RTHROTTLED / ESME_RMSGQFUL, go back to the front of the queue.
//!
//! ## Liveness
//! With no PDU from the SMSC for `enquire_link` the session sends `enquire_link`; any request
//! unanswered after `response_timeout` closes the connection (the driver reconnects). The
//! SMSC's `enquire_link` is answered at once; unknown or malformed PDUs get `generic_nack`; a
//! frame with an impossible length closes the connection (the stream cannot be resynchronised).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::{Duration, Instant};

use super::pdu::{
    self, status, tlv_tag, Address, Bind, Body, Pdu, PduError, ShortMessage, ESM_UDHI,
};
use super::receipt::Receipt;
use crate::coding::{self, CodingError};

/// What the session needs to know about the account and its limits.
#[derive(Debug, Clone)]
pub struct SessionConfig {
    pub system_id: String,
    pub password: String,
    pub system_type: String,
    /// At most this many `submit_sm` awaiting `submit_sm_resp`.
    pub window: usize,
    /// At most this many `submit_sm` per second (0: unlimited).
    pub rate: u32,
    /// Send `enquire_link` after this long without a PDU from the SMSC.
    pub enquire_link: Duration,
    /// Close the connection when a request is unanswered this long.
    pub response_timeout: Duration,
    /// Hand over an incomplete concatenated MO after this long.
    pub reassembly_timeout: Duration,
    /// Ask the SMSC for delivery receipts (`registered_delivery` = 1).
    pub receipts: bool,
    /// At most this many parts wait in the send queue; beyond, the oldest are dropped.
    pub max_queue: usize,
}

impl Default for SessionConfig {
    fn default() -> Self {
        SessionConfig {
            system_id: String::new(),
            password: String::new(),
            system_type: String::new(),
            window: 64,
            rate: 0,
            enquire_link: Duration::from_secs(30),
            response_timeout: Duration::from_secs(10),
            reassembly_timeout: Duration::from_secs(60),
            receipts: true,
            max_queue: 100_000,
        }
    }
}

/// Identifies an MO handed to the driver; give it back to [`Session::mo_handled`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MoId {
    connection: u64,
    id: u64,
}

/// A mobile-originated message, reassembled and decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mo {
    pub id: MoId,
    /// The handset's number.
    pub from: String,
    /// The short code it was sent to.
    pub to: String,
    pub text: String,
}

/// What the driver must act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The SMSC accepted the bind.
    Bound { smsc: String },
    /// Hand this MO to the handler, then call [`Session::mo_handled`].
    Mo(Mo),
    /// A delivery receipt (already acknowledged to the SMSC).
    Receipt(Receipt),
    /// The SMSC accepted a part for delivery under `message_id`; `tag` is the one given to
    /// [`Session::submit_tagged`] (`None` for replies).
    Submitted {
        message_id: String,
        to: String,
        tag: Option<u64>,
    },
    /// The SMSC refused a part (or the queue overflowed); it will not be retried.
    MtFailed {
        to: String,
        status: u32,
        tag: Option<u64>,
    },
    /// Close the connection (then call [`Session::disconnected`] and reconnect with backoff).
    Close { reason: String },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Disconnected,
    Binding,
    Bound,
    Unbinding,
}

/// One message part ready to become a `submit_sm`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct MtPart {
    from: String,
    to: String,
    data_coding: u8,
    esm_class: u8,
    body: Vec<u8>,
    /// The driver's tag of the message this part belongs to.
    tag: Option<u64>,
}

#[derive(Debug)]
enum Request {
    Bind,
    Submit(MtPart),
    EnquireLink,
    Unbind,
}

#[derive(Debug)]
struct Outstanding {
    request: Request,
    deadline: Instant,
}

/// Parts of a concatenated MO seen so far.
#[derive(Debug)]
struct Partial {
    parts: BTreeMap<u8, String>,
    acks: Vec<u32>,
    deadline: Instant,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct PartialKey {
    from: String,
    to: String,
    reference: u16,
    total: u8,
}

/// A token bucket: `rate` tokens per second, at most `burst` saved up.
#[derive(Debug)]
struct Bucket {
    rate: f64,
    burst: f64,
    tokens: f64,
    at: Option<Instant>,
}

impl Bucket {
    fn new(rate: u32) -> Bucket {
        let rate = f64::from(rate);
        let burst = (rate / 10.0).max(1.0);
        Bucket {
            rate,
            burst,
            tokens: burst,
            at: None,
        }
    }

    fn refill(&mut self, now: Instant) {
        if let Some(at) = self.at {
            let dt = now.saturating_duration_since(at).as_secs_f64();
            self.tokens = (self.tokens + dt * self.rate).min(self.burst);
        }
        self.at = Some(now);
    }

    /// Takes a token if one is there (always, when unlimited).
    fn take(&mut self, now: Instant) -> bool {
        if self.rate <= 0.0 {
            return true;
        }
        self.refill(now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// When the next token will be there.
    fn next_token(&self, now: Instant) -> Instant {
        if self.rate <= 0.0 || self.tokens >= 1.0 {
            return now;
        }
        let wait = (1.0 - self.tokens) / self.rate;
        now + Duration::from_secs_f64(wait.max(0.0))
    }
}

/// The ESME side of one SMPP transceiver account, across reconnects.
#[derive(Debug)]
pub struct Session {
    cfg: SessionConfig,
    state: State,
    connection: u64,
    next_sequence: u32,
    inbuf: Vec<u8>,
    out: Vec<u8>,
    events: VecDeque<Event>,
    outstanding: HashMap<u32, Outstanding>,
    in_flight: usize,
    queue: VecDeque<MtPart>,
    bucket: Bucket,
    last_heard: Option<Instant>,
    enquiring: bool,
    next_mo: u64,
    awaiting_handler: HashMap<u64, Vec<u32>>,
    partials: BTreeMap<PartialKey, Partial>,
    next_reference: u8,
}

impl Session {
    /// A session that is not connected yet.
    pub fn new(cfg: SessionConfig) -> Session {
        let bucket = Bucket::new(cfg.rate);
        Session {
            cfg,
            state: State::Disconnected,
            connection: 0,
            next_sequence: 1,
            inbuf: Vec::new(),
            out: Vec::new(),
            events: VecDeque::new(),
            outstanding: HashMap::new(),
            in_flight: 0,
            queue: VecDeque::new(),
            bucket,
            last_heard: None,
            enquiring: false,
            next_mo: 0,
            awaiting_handler: HashMap::new(),
            partials: BTreeMap::new(),
            next_reference: 0,
        }
    }

    /// Whether the SMSC has accepted our bind on the current connection.
    pub fn is_bound(&self) -> bool {
        self.state == State::Bound
    }

    /// Whether nothing is left to do: no part queued or in flight, no MO with the handler.
    pub fn is_idle(&self) -> bool {
        self.queue.is_empty() && self.in_flight == 0 && self.awaiting_handler.is_empty()
    }

    /// Parts waiting to be sent.
    pub fn queued(&self) -> usize {
        self.queue.len()
    }

    /// Bytes to write to the SMSC (empties the buffer).
    pub fn take_output(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.out)
    }

    /// Whether there are bytes to write.
    pub fn has_output(&self) -> bool {
        !self.out.is_empty()
    }

    /// The next thing the driver must act on.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    fn sequence(&mut self) -> u32 {
        let s = self.next_sequence;
        // Sequence numbers run 1..=0x7FFFFFFF.
        self.next_sequence = if s >= 0x7FFF_FFFF { 1 } else { s + 1 };
        s
    }

    fn send(&mut self, pdu: &Pdu) {
        if let Err(e) = pdu.encode_into(&mut self.out) {
            // Only a submit_sm built from our own parts could fail, and the parts respect the
            // limits; report rather than panic.
            tracing::error!(error = %e, "cannot encode PDU");
        }
    }

    fn request(&mut self, body: Body, request: Request, now: Instant) {
        let sequence = self.sequence();
        self.send(&Pdu::new(sequence, body));
        self.outstanding.insert(
            sequence,
            Outstanding {
                request,
                deadline: now + self.cfg.response_timeout,
            },
        );
    }

    fn respond(&mut self, sequence: u32, st: u32, body: Body) {
        self.send(&Pdu {
            status: st,
            sequence,
            body,
        });
    }

    fn close(&mut self, reason: impl Into<String>) {
        if self.state != State::Disconnected {
            self.events.push_back(Event::Close {
                reason: reason.into(),
            });
        }
    }

    /// A new TCP connection to the SMSC is up: bind.
    pub fn connected(&mut self, now: Instant) {
        self.disconnected();
        self.connection += 1;
        self.state = State::Binding;
        self.last_heard = Some(now);
        let bind = Bind {
            system_id: self.cfg.system_id.clone(),
            password: self.cfg.password.clone(),
            system_type: self.cfg.system_type.clone(),
            interface_version: pdu::INTERFACE_VERSION,
            addr_ton: 0,
            addr_npi: 0,
            address_range: String::new(),
        };
        self.request(Body::BindTransceiver(bind), Request::Bind, now);
    }

    /// The connection is gone (closed by either side). Parts in flight go back to the queue;
    /// MOs not yet acknowledged will be redelivered by the SMSC.
    pub fn disconnected(&mut self) {
        let mut in_flight: Vec<(u32, MtPart)> = Vec::new();
        for (seq, o) in self.outstanding.drain() {
            if let Request::Submit(part) = o.request {
                in_flight.push((seq, part));
            }
        }
        in_flight.sort_by_key(|(seq, _)| *seq);
        for (_, part) in in_flight.into_iter().rev() {
            self.queue.push_front(part);
        }
        self.in_flight = 0;
        self.state = State::Disconnected;
        self.inbuf.clear();
        self.out.clear();
        self.enquiring = false;
        self.awaiting_handler.clear();
        self.partials.clear();
    }

    /// Ask the SMSC to end the session (graceful shutdown); a `Close` event follows its answer.
    pub fn unbind(&mut self, now: Instant) {
        match self.state {
            State::Bound | State::Binding => {
                self.state = State::Unbinding;
                self.request(Body::Unbind, Request::Unbind, now);
            }
            State::Unbinding => {}
            State::Disconnected => {}
        }
    }

    /// Queue a message for `to` from `from` (split into parts as needed).
    pub fn submit(
        &mut self,
        from: &str,
        to: &str,
        text: &str,
        now: Instant,
    ) -> Result<usize, CodingError> {
        self.submit_tagged(from, to, text, None, now)
    }

    /// Queue a message the driver follows up (an unsolicited MT such as a recall notice): each
    /// part's [`Event::Submitted`] / [`Event::MtFailed`] carries `tag`. Returns the part count.
    /// Window, rate limit, queue bound and UDH are the same as for replies.
    pub fn submit_tagged(
        &mut self,
        from: &str,
        to: &str,
        text: &str,
        tag: Option<u64>,
        now: Instant,
    ) -> Result<usize, CodingError> {
        let reference = self.next_reference;
        self.next_reference = self.next_reference.wrapping_add(1);
        let encoded = coding::split(text, reference)?;
        let esm_class = if encoded.has_udh() { ESM_UDHI } else { 0 };
        let n = encoded.parts.len();
        for body in encoded.parts {
            if self.queue.len() >= self.cfg.max_queue {
                if let Some(dropped) = self.queue.pop_front() {
                    tracing::warn!("SMPP send queue full; dropping the oldest part");
                    self.events.push_back(Event::MtFailed {
                        to: dropped.to,
                        status: status::MSG_Q_FULL,
                        tag: dropped.tag,
                    });
                }
            }
            self.queue.push_back(MtPart {
                from: from.to_owned(),
                to: to.to_owned(),
                data_coding: encoded.coding.data_coding(),
                esm_class,
                body,
                tag,
            });
        }
        self.pump(now);
        Ok(n)
    }

    /// The driver handled `mo` (the core recorded it, `reply` is what to answer): queue the
    /// reply and acknowledge the `deliver_sm` PDU(s) it came in.
    pub fn mo_handled(&mut self, mo: &Mo, reply: Option<&str>, now: Instant) {
        if mo.id.connection != self.connection {
            // The connection it came on is gone; the SMSC redelivers it.
            return;
        }
        let Some(acks) = self.awaiting_handler.remove(&mo.id.id) else {
            return;
        };
        if let Some(reply) = reply {
            if let Err(e) = self.submit(&mo.to, &mo.from, reply, now) {
                tracing::warn!(error = %e, "reply cannot be sent as SMS");
            }
        }
        for seq in acks {
            self.respond(
                seq,
                status::OK,
                Body::DeliverSmResp {
                    message_id: String::new(),
                },
            );
        }
    }

    /// Bytes from the SMSC.
    pub fn receive(&mut self, bytes: &[u8], now: Instant) {
        if self.state == State::Disconnected {
            return;
        }
        self.inbuf.extend_from_slice(bytes);
        let mut start = 0;
        loop {
            let rest = self.inbuf.get(start..).unwrap_or(&[]);
            match pdu::frame_len(rest) {
                Ok(Some(n)) => {
                    let frame = rest.get(..n).unwrap_or(&[]);
                    let decoded = pdu::decode(frame);
                    start += n;
                    self.last_heard = Some(now);
                    match decoded {
                        Ok(p) => self.on_pdu(p, now),
                        Err(e) => self.on_bad_pdu(&e),
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    tracing::warn!(error = %e, "unframeable SMPP data");
                    self.close(format!("bad frame: {e}"));
                    self.inbuf.clear();
                    return;
                }
            }
        }
        self.inbuf.drain(..start.min(self.inbuf.len()));
        self.pump(now);
    }

    fn on_bad_pdu(&mut self, e: &PduError) {
        tracing::warn!(error = %e, "malformed SMPP PDU");
        if let Some(seq) = e.sequence() {
            self.respond(seq, e.nack_status(), Body::GenericNack);
        }
    }

    fn on_pdu(&mut self, p: Pdu, now: Instant) {
        let Pdu {
            status: st,
            sequence,
            body,
        } = p;
        match body {
            Body::EnquireLink => self.respond(sequence, status::OK, Body::EnquireLinkResp),
            Body::Unbind => {
                self.respond(sequence, status::OK, Body::UnbindResp);
                self.close("SMSC unbound");
                self.state = State::Unbinding;
            }
            Body::DeliverSm(sm) => {
                if self.state == State::Bound {
                    self.on_deliver(sequence, sm, now);
                } else {
                    self.respond(
                        sequence,
                        status::INVALID_BIND_STATUS,
                        Body::DeliverSmResp {
                            message_id: String::new(),
                        },
                    );
                }
            }
            Body::BindTransceiver(_) | Body::SubmitSm(_) => {
                // SMSC-side requests an ESME does not serve.
                self.respond(sequence, status::INVALID_CMD_ID, Body::GenericNack);
            }
            Body::GenericNack
            | Body::BindTransceiverResp { .. }
            | Body::SubmitSmResp { .. }
            | Body::DeliverSmResp { .. }
            | Body::UnbindResp
            | Body::EnquireLinkResp => self.on_response(sequence, st, body),
        }
    }

    fn on_response(&mut self, sequence: u32, st: u32, body: Body) {
        let Some(o) = self.outstanding.remove(&sequence) else {
            tracing::debug!(sequence, "response to no outstanding request");
            return;
        };
        match (o.request, body) {
            (Request::Bind, Body::BindTransceiverResp { system_id, .. }) if st == status::OK => {
                self.state = State::Bound;
                self.events.push_back(Event::Bound { smsc: system_id });
            }
            (Request::Bind, _) => {
                self.close(format!("bind refused with status {st:#010x}"));
            }
            (Request::Submit(part), body) => {
                self.in_flight = self.in_flight.saturating_sub(1);
                match (st, body) {
                    (status::OK, Body::SubmitSmResp { message_id }) => {
                        self.events.push_back(Event::Submitted {
                            message_id,
                            to: part.to,
                            tag: part.tag,
                        });
                    }
                    (status::THROTTLED | status::MSG_Q_FULL, _) => {
                        // Try again later: back to the front, and an empty bucket.
                        self.queue.push_front(part);
                        self.bucket.tokens = 0.0;
                    }
                    (st, _) => self.events.push_back(Event::MtFailed {
                        to: part.to,
                        tag: part.tag,
                        status: if st == status::OK {
                            status::SYSTEM_ERROR
                        } else {
                            st
                        },
                    }),
                }
            }
            (Request::EnquireLink, _) => self.enquiring = false,
            (Request::Unbind, _) => self.close("unbound"),
        }
    }

    fn on_deliver(&mut self, sequence: u32, sm: ShortMessage, now: Instant) {
        let payload = sm.payload();
        let (concat, body) = if sm.esm_class & ESM_UDHI != 0 {
            match coding::parse_udh(payload) {
                Ok((c, rest)) => (c, rest),
                Err(_) => (None, payload),
            }
        } else {
            (None, payload)
        };
        let text = coding::decode(sm.data_coding, body)
            .unwrap_or_else(|_| String::from_utf8_lossy(body).into_owned());
        if sm.is_receipt() {
            match Receipt::parse(&sm, &text) {
                Some(r) => self.events.push_back(Event::Receipt(r)),
                None => tracing::warn!("unreadable delivery receipt"),
            }
            self.respond(
                sequence,
                status::OK,
                Body::DeliverSmResp {
                    message_id: String::new(),
                },
            );
            return;
        }
        let concat = concat.or_else(|| sar(&sm));
        let from = sm.source.addr;
        let to = sm.dest.addr;
        match concat {
            Some(c) if c.total > 1 => {
                let key = PartialKey {
                    from,
                    to,
                    reference: c.reference,
                    total: c.total,
                };
                let partial = self.partials.entry(key.clone()).or_insert_with(|| Partial {
                    parts: BTreeMap::new(),
                    acks: Vec::new(),
                    deadline: now + self.cfg.reassembly_timeout,
                });
                partial.parts.insert(c.seq, text);
                partial.acks.push(sequence);
                if partial.parts.len() == usize::from(c.total) {
                    if let Some(p) = self.partials.remove(&key) {
                        self.hand_over(key.from, key.to, p);
                    }
                }
            }
            _ => {
                let id = self.next_mo;
                self.next_mo += 1;
                self.awaiting_handler.insert(id, vec![sequence]);
                self.events.push_back(Event::Mo(Mo {
                    id: MoId {
                        connection: self.connection,
                        id,
                    },
                    from,
                    to,
                    text,
                }));
            }
        }
    }

    fn hand_over(&mut self, from: String, to: String, p: Partial) {
        let mut text = String::new();
        let mut expected = 1u8;
        for (seq, piece) in p.parts {
            if seq != expected {
                text.push('…');
            }
            text.push_str(&piece);
            expected = seq.wrapping_add(1);
        }
        let id = self.next_mo;
        self.next_mo += 1;
        self.awaiting_handler.insert(id, p.acks);
        self.events.push_back(Event::Mo(Mo {
            id: MoId {
                connection: self.connection,
                id,
            },
            from,
            to,
            text,
        }));
    }

    /// Sends queued parts while the window and the rate allow.
    fn pump(&mut self, now: Instant) {
        if self.state != State::Bound {
            return;
        }
        while self.in_flight < self.cfg.window && !self.queue.is_empty() {
            if !self.bucket.take(now) {
                break;
            }
            let Some(part) = self.queue.pop_front() else {
                break;
            };
            let sm = ShortMessage {
                source: Address {
                    ton: 0,
                    npi: 0,
                    addr: part.from.clone(),
                },
                dest: Address {
                    ton: 1,
                    npi: 1,
                    addr: part.to.clone(),
                },
                esm_class: part.esm_class,
                registered_delivery: u8::from(self.cfg.receipts),
                data_coding: part.data_coding,
                short_message: part.body.clone(),
                ..ShortMessage::default()
            };
            self.in_flight += 1;
            self.request(Body::SubmitSm(sm), Request::Submit(part), now);
        }
    }

    /// Time passed: response timeouts, keep-alive, reassembly timeouts, rate-limited sends.
    pub fn tick(&mut self, now: Instant) {
        if self.state == State::Disconnected {
            return;
        }
        if let Some((seq, _)) = self.outstanding.iter().find(|(_, o)| o.deadline <= now) {
            let seq = *seq;
            tracing::warn!(sequence = seq, "SMPP response timed out");
            self.close("response timeout");
            return;
        }
        if self.state == State::Bound && !self.enquiring {
            if let Some(heard) = self.last_heard {
                if now.saturating_duration_since(heard) >= self.cfg.enquire_link {
                    self.enquiring = true;
                    self.request(Body::EnquireLink, Request::EnquireLink, now);
                }
            }
        }
        let expired: Vec<PartialKey> = self
            .partials
            .iter()
            .filter(|(_, p)| p.deadline <= now)
            .map(|(k, _)| k.clone())
            .collect();
        for key in expired {
            if let Some(p) = self.partials.remove(&key) {
                tracing::info!("concatenated MO incomplete at timeout; handing over what arrived");
                self.hand_over(key.from, key.to, p);
            }
        }
        self.pump(now);
    }

    /// When the driver should call [`Session::tick`] next (`None`: only on other events).
    pub fn poll_timeout(&self, now: Instant) -> Option<Instant> {
        if self.state == State::Disconnected {
            return None;
        }
        let mut next: Option<Instant> = None;
        let mut consider = |t: Instant| next = Some(next.map_or(t, |n: Instant| n.min(t)));
        for o in self.outstanding.values() {
            consider(o.deadline);
        }
        if self.state == State::Bound && !self.enquiring {
            if let Some(heard) = self.last_heard {
                consider(heard + self.cfg.enquire_link);
            }
        }
        for p in self.partials.values() {
            consider(p.deadline);
        }
        if self.state == State::Bound && !self.queue.is_empty() && self.in_flight < self.cfg.window
        {
            consider(self.bucket.next_token(now));
        }
        next
    }
}

/// Concatenation announced by the SAR TLVs instead of a UDH.
fn sar(sm: &ShortMessage) -> Option<coding::Concat> {
    let reference = match sm.tlv(tlv_tag::SAR_MSG_REF_NUM)? {
        [hi, lo] => u16::from_be_bytes([*hi, *lo]),
        _ => return None,
    };
    let total = *sm.tlv(tlv_tag::SAR_TOTAL_SEGMENTS)?.first()?;
    let seq = *sm.tlv(tlv_tag::SAR_SEGMENT_SEQNUM)?.first()?;
    (total >= 1 && seq >= 1 && seq <= total).then_some(coding::Concat {
        reference,
        total,
        seq,
    })
}

/// Reconnect delays: `initial`, doubling up to `max`; [`Backoff::reset`] after a good bind.
#[derive(Debug, Clone)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    next: Duration,
}

impl Backoff {
    pub fn new(initial: Duration, max: Duration) -> Backoff {
        Backoff {
            initial,
            max: max.max(initial),
            next: initial,
        }
    }

    /// The delay before the next attempt.
    pub fn next_delay(&mut self) -> Duration {
        let d = self.next;
        self.next = (self.next * 2).min(self.max);
        d
    }

    pub fn reset(&mut self) {
        self.next = self.initial;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::smpp::pdu::{Tlv, ESM_TYPE_RECEIPT};

    fn cfg() -> SessionConfig {
        SessionConfig {
            system_id: "zhenwei".into(),
            password: "pw".into(),
            system_type: "VMA".into(),
            window: 2,
            rate: 0,
            enquire_link: Duration::from_secs(30),
            response_timeout: Duration::from_secs(5),
            reassembly_timeout: Duration::from_secs(60),
            receipts: true,
            max_queue: 100,
        }
    }

    /// Decodes everything the session wrote.
    fn sent(s: &mut Session) -> Vec<Pdu> {
        let out = s.take_output();
        let mut rest = &out[..];
        let mut pdus = Vec::new();
        while let Some(n) = pdu::frame_len(rest).unwrap() {
            pdus.push(pdu::decode(&rest[..n]).unwrap());
            rest = &rest[n..];
        }
        assert!(rest.is_empty());
        pdus
    }

    fn events(s: &mut Session) -> Vec<Event> {
        std::iter::from_fn(|| s.poll_event()).collect()
    }

    fn bytes(p: Pdu) -> Vec<u8> {
        p.encode().unwrap()
    }

    fn bound(now: Instant) -> Session {
        let mut s = Session::new(cfg());
        s.connected(now);
        let out = sent(&mut s);
        assert_eq!(out.len(), 1);
        let Body::BindTransceiver(b) = &out[0].body else {
            panic!("expected bind, got {:?}", out[0]);
        };
        assert_eq!(
            (
                b.system_id.as_str(),
                b.password.as_str(),
                b.system_type.as_str()
            ),
            ("zhenwei", "pw", "VMA")
        );
        assert_eq!(b.interface_version, 0x34);
        let resp = Pdu::new(
            out[0].sequence,
            Body::BindTransceiverResp {
                system_id: "SMSC".into(),
                tlvs: vec![],
            },
        );
        s.receive(&bytes(resp), now);
        assert_eq!(
            events(&mut s),
            vec![Event::Bound {
                smsc: "SMSC".into()
            }]
        );
        assert!(s.is_bound());
        s
    }

    fn deliver(seq: u32, from: &str, text: &str) -> Vec<u8> {
        let coding = coding::choose(text);
        bytes(Pdu::new(
            seq,
            Body::DeliverSm(ShortMessage {
                source: Address {
                    ton: 1,
                    npi: 1,
                    addr: from.into(),
                },
                dest: Address {
                    ton: 0,
                    npi: 0,
                    addr: "10690000".into(),
                },
                data_coding: coding.data_coding(),
                short_message: coding::encode(text, coding).unwrap(),
                ..ShortMessage::default()
            }),
        ))
    }

    fn submits(pdus: &[Pdu]) -> Vec<(u32, ShortMessage)> {
        pdus.iter()
            .filter_map(|p| match &p.body {
                Body::SubmitSm(m) => Some((p.sequence, m.clone())),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn an_unsolicited_long_mt_goes_out_in_tagged_udh_parts_within_the_window() {
        let now = Instant::now();
        let mut s = Session::new(SessionConfig { window: 1, ..cfg() });
        s.connected(now);
        let out = sent(&mut s);
        s.receive(
            &bytes(Pdu::new(
                out[0].sequence,
                Body::BindTransceiverResp {
                    system_id: "SMSC".into(),
                    tlvs: vec![],
                },
            )),
            now,
        );
        events(&mut s);
        // 80 Chinese characters: two UCS-2 parts, one in flight at a time (window 1).
        let text: String = "召回".repeat(40);
        assert_eq!(
            s.submit_tagged("10690001", "8613800138000", &text, Some(42), now),
            Ok(2)
        );
        let first = submits(&sent(&mut s));
        assert_eq!(first.len(), 1, "the window holds the second part back");
        assert_eq!(first[0].1.esm_class, ESM_UDHI);
        assert_eq!(&first[0].1.short_message[..6], &[5, 0, 3, 0, 2, 1]);
        s.receive(
            &bytes(Pdu::new(
                first[0].0,
                Body::SubmitSmResp {
                    message_id: "p1".into(),
                },
            )),
            now,
        );
        let second = submits(&sent(&mut s));
        assert_eq!(second.len(), 1);
        assert_eq!(&second[0].1.short_message[..6], &[5, 0, 3, 0, 2, 2]);
        s.receive(
            &bytes(Pdu {
                status: 0x45,
                sequence: second[0].0,
                body: Body::SubmitSmResp {
                    message_id: String::new(),
                },
            }),
            now,
        );
        assert_eq!(
            events(&mut s),
            vec![
                Event::Submitted {
                    message_id: "p1".into(),
                    to: "8613800138000".into(),
                    tag: Some(42),
                },
                Event::MtFailed {
                    to: "8613800138000".into(),
                    status: 0x45,
                    tag: Some(42),
                },
            ]
        );
    }

    #[test]
    fn bind_refused_closes() {
        let now = Instant::now();
        let mut s = Session::new(cfg());
        s.connected(now);
        let out = sent(&mut s);
        let resp = Pdu {
            status: status::INVALID_PASSWORD,
            sequence: out[0].sequence,
            body: Body::BindTransceiverResp {
                system_id: String::new(),
                tlvs: vec![],
            },
        };
        s.receive(&bytes(resp), now);
        assert!(matches!(events(&mut s)[..], [Event::Close { .. }]));
        assert!(!s.is_bound());
    }

    #[test]
    fn mo_is_acked_only_after_it_is_handled_and_the_reply_goes_out_as_ucs2() {
        let now = Instant::now();
        let mut s = bound(now);
        s.receive(&deliver(77, "8613800138000", "验证 123"), now);
        assert!(
            sent(&mut s).is_empty(),
            "no ack before the handler finished"
        );
        let ev = events(&mut s);
        let [Event::Mo(mo)] = &ev[..] else {
            panic!("{ev:?}")
        };
        assert_eq!(
            (mo.from.as_str(), mo.to.as_str(), mo.text.as_str()),
            ("8613800138000", "10690000", "验证 123")
        );
        s.mo_handled(mo, Some("正品"), now);
        let out = sent(&mut s);
        let subs = submits(&out);
        assert_eq!(subs.len(), 1);
        let m = &subs[0].1;
        assert_eq!(
            (m.source.addr.as_str(), m.dest.addr.as_str()),
            ("10690000", "8613800138000")
        );
        assert_eq!(m.data_coding, 8);
        assert_eq!(m.esm_class, 0);
        assert_eq!(m.registered_delivery, 1);
        assert_eq!(m.short_message, vec![0x6B, 0x63, 0x54, 0xC1]);
        assert!(out.iter().any(|p| p.sequence == 77
            && p.body
                == Body::DeliverSmResp {
                    message_id: String::new()
                }));
        s.receive(
            &bytes(Pdu::new(
                subs[0].0,
                Body::SubmitSmResp {
                    message_id: "m1".into(),
                },
            )),
            now,
        );
        assert_eq!(
            events(&mut s),
            vec![Event::Submitted {
                message_id: "m1".into(),
                to: "8613800138000".into(),
                tag: None,
            }]
        );
        assert!(s.is_idle());
    }

    #[test]
    fn long_reply_goes_out_in_udh_parts_within_the_window() {
        let now = Instant::now();
        let mut s = bound(now);
        s.submit("10690000", "8613800138000", &"真".repeat(150), now)
            .unwrap();
        let subs = submits(&sent(&mut s));
        // 150 chars = 3 parts of 67; window 2 holds the third back.
        assert_eq!(subs.len(), 2);
        assert_eq!(s.queued(), 1);
        for (i, (_, m)) in subs.iter().enumerate() {
            assert_eq!(m.esm_class, 0x40);
            assert_eq!(&m.short_message[..6], &[5, 0, 3, 0, 3, i as u8 + 1]);
        }
        s.receive(
            &bytes(Pdu::new(
                subs[0].0,
                Body::SubmitSmResp {
                    message_id: "a".into(),
                },
            )),
            now,
        );
        let third = submits(&sent(&mut s));
        assert_eq!(third.len(), 1);
        assert_eq!(&third[0].1.short_message[..6], &[5, 0, 3, 0, 3, 3]);
    }

    #[test]
    fn rate_limit_spaces_submits() {
        let now = Instant::now();
        let mut s = Session::new(SessionConfig {
            rate: 10,
            window: 100,
            ..cfg()
        });
        s.connected(now);
        let seq = sent(&mut s)[0].sequence;
        s.receive(
            &bytes(Pdu::new(
                seq,
                Body::BindTransceiverResp {
                    system_id: "S".into(),
                    tlvs: vec![],
                },
            )),
            now,
        );
        for i in 0..5 {
            s.submit("1", &format!("{i}"), "hi", now).unwrap();
        }
        // Burst of one (10/s ÷ 10), then one every 100 ms.
        assert_eq!(submits(&sent(&mut s)).len(), 1);
        let next = s.poll_timeout(now).unwrap();
        assert_eq!(next, now + Duration::from_millis(100));
        s.tick(now + Duration::from_millis(50));
        assert_eq!(submits(&sent(&mut s)).len(), 0);
        s.tick(now + Duration::from_millis(100));
        assert_eq!(submits(&sent(&mut s)).len(), 1);
        s.tick(now + Duration::from_millis(400));
        assert_eq!(
            submits(&sent(&mut s)).len(),
            1,
            "the bucket holds at most one"
        );
    }

    #[test]
    fn throttled_submit_is_retried_and_other_errors_reported() {
        let now = Instant::now();
        let mut s = bound(now);
        s.submit("1", "2", "a", now).unwrap();
        let subs = submits(&sent(&mut s));
        s.receive(
            &bytes(Pdu {
                status: status::THROTTLED,
                sequence: subs[0].0,
                body: Body::SubmitSmResp {
                    message_id: String::new(),
                },
            }),
            now,
        );
        let again = submits(&sent(&mut s));
        assert_eq!(again.len(), 1);
        assert_eq!(again[0].1.short_message, b"a");
        s.receive(
            &bytes(Pdu {
                status: 0x45,
                sequence: again[0].0,
                body: Body::SubmitSmResp {
                    message_id: String::new(),
                },
            }),
            now,
        );
        assert_eq!(
            events(&mut s),
            vec![Event::MtFailed {
                to: "2".into(),
                status: 0x45,
                tag: None,
            }]
        );
    }

    #[test]
    fn concatenated_mo_is_reassembled_and_all_parts_acked_together() {
        let now = Instant::now();
        let mut s = bound(now);
        let text = "请核实这个防伪码是否为真".repeat(8);
        let enc = coding::split(&text, 9).unwrap();
        assert_eq!(enc.parts.len(), 2);
        // Parts arrive out of order.
        for (seq, body) in [(11u32, &enc.parts[1]), (10, &enc.parts[0])] {
            s.receive(
                &bytes(Pdu::new(
                    seq,
                    Body::DeliverSm(ShortMessage {
                        source: Address {
                            ton: 1,
                            npi: 1,
                            addr: "861".into(),
                        },
                        dest: Address {
                            ton: 0,
                            npi: 0,
                            addr: "106".into(),
                        },
                        esm_class: ESM_UDHI,
                        data_coding: 8,
                        short_message: body.clone(),
                        ..ShortMessage::default()
                    }),
                )),
                now,
            );
        }
        assert!(sent(&mut s).is_empty());
        let ev = events(&mut s);
        let [Event::Mo(mo)] = &ev[..] else {
            panic!("{ev:?}")
        };
        assert_eq!(mo.text, text);
        s.mo_handled(mo, None, now);
        let mut acked: Vec<u32> = sent(&mut s).iter().map(|p| p.sequence).collect();
        acked.sort();
        assert_eq!(acked, vec![10, 11]);
    }

    #[test]
    fn sar_tlvs_also_concatenate_and_incomplete_mos_are_handed_over_at_timeout() {
        let now = Instant::now();
        let mut s = bound(now);
        let part = |seq: u8, text: &str| {
            bytes(Pdu::new(
                u32::from(seq),
                Body::DeliverSm(ShortMessage {
                    source: Address {
                        ton: 1,
                        npi: 1,
                        addr: "861".into(),
                    },
                    dest: Address {
                        ton: 0,
                        npi: 0,
                        addr: "106".into(),
                    },
                    short_message: text.as_bytes().to_vec(),
                    tlvs: vec![
                        Tlv {
                            tag: tlv_tag::SAR_MSG_REF_NUM,
                            value: vec![1, 2],
                        },
                        Tlv {
                            tag: tlv_tag::SAR_TOTAL_SEGMENTS,
                            value: vec![3],
                        },
                        Tlv {
                            tag: tlv_tag::SAR_SEGMENT_SEQNUM,
                            value: vec![seq],
                        },
                    ],
                    ..ShortMessage::default()
                }),
            ))
        };
        s.receive(&part(1, "CHECK "), now);
        s.receive(&part(3, "789"), now);
        assert!(events(&mut s).is_empty());
        assert_eq!(s.poll_timeout(now), Some(now + Duration::from_secs(30)));
        s.tick(now + Duration::from_secs(60));
        let ev = events(&mut s);
        let mos: Vec<&Mo> = ev
            .iter()
            .filter_map(|e| match e {
                Event::Mo(m) => Some(m),
                _ => None,
            })
            .collect();
        assert_eq!(mos.len(), 1);
        assert_eq!(mos[0].text, "CHECK …789");
    }

    #[test]
    fn receipts_are_parsed_and_acked_at_once() {
        let now = Instant::now();
        let mut s = bound(now);
        let text = "id:m1 sub:001 dlvrd:001 submit date:2611210130 done date:2611210131 stat:DELIVRD err:000 text:x";
        s.receive(
            &bytes(Pdu::new(
                5,
                Body::DeliverSm(ShortMessage {
                    source: Address {
                        ton: 1,
                        npi: 1,
                        addr: "861".into(),
                    },
                    esm_class: ESM_TYPE_RECEIPT,
                    short_message: text.as_bytes().to_vec(),
                    ..ShortMessage::default()
                }),
            )),
            now,
        );
        let ev = events(&mut s);
        let [Event::Receipt(r)] = &ev[..] else {
            panic!("{ev:?}")
        };
        assert_eq!((r.message_id.as_str(), r.stat.as_str()), ("m1", "DELIVRD"));
        assert_eq!(
            sent(&mut s),
            vec![Pdu::new(
                5,
                Body::DeliverSmResp {
                    message_id: String::new()
                }
            )]
        );
    }

    #[test]
    fn enquire_link_both_ways_and_timeout_closes() {
        let now = Instant::now();
        let mut s = bound(now);
        s.receive(&bytes(Pdu::new(900, Body::EnquireLink)), now);
        assert_eq!(sent(&mut s), vec![Pdu::new(900, Body::EnquireLinkResp)]);
        assert_eq!(s.poll_timeout(now), Some(now + Duration::from_secs(30)));
        let t = now + Duration::from_secs(30);
        s.tick(t);
        let out = sent(&mut s);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].body, Body::EnquireLink);
        s.receive(&bytes(Pdu::new(out[0].sequence, Body::EnquireLinkResp)), t);
        assert!(events(&mut s).is_empty());
        // Next one unanswered: close after the response timeout.
        let t2 = t + Duration::from_secs(30);
        s.tick(t2);
        assert_eq!(sent(&mut s).len(), 1);
        s.tick(t2 + Duration::from_secs(5));
        assert!(matches!(events(&mut s)[..], [Event::Close { .. }]));
    }

    #[test]
    fn unknown_and_malformed_pdus_get_generic_nack_bad_frames_close() {
        let now = Instant::now();
        let mut s = bound(now);
        let mut data_sm = vec![0, 0, 0, 16, 0, 0, 1, 3, 0, 0, 0, 0, 0, 0, 0, 33];
        // A deliver_sm cut short (valid header, truncated body).
        data_sm.extend([
            0, 0, 0, 20, 0, 0, 0, 5, 0, 0, 0, 0, 0, 0, 0, 34, 0, 1, 1, b'8',
        ]);
        s.receive(&data_sm, now);
        let out = sent(&mut s);
        assert_eq!(out.len(), 2);
        assert_eq!(
            (out[0].sequence, out[0].status, &out[0].body),
            (33, status::INVALID_CMD_ID, &Body::GenericNack)
        );
        assert_eq!(
            (out[1].sequence, out[1].status, &out[1].body),
            (34, status::INVALID_MSG_LEN, &Body::GenericNack)
        );
        assert!(s.is_bound());
        s.receive(&[0, 0, 0, 3, 1, 2, 3], now);
        assert!(matches!(events(&mut s)[..], [Event::Close { .. }]));
    }

    #[test]
    fn pdus_split_across_reads_are_reassembled() {
        let now = Instant::now();
        let mut s = bound(now);
        let b = deliver(5, "861", "CX 12345");
        for chunk in b.chunks(3) {
            s.receive(chunk, now);
        }
        let ev = events(&mut s);
        assert!(matches!(&ev[..], [Event::Mo(m)] if m.text == "CX 12345"));
    }

    #[test]
    fn reconnect_requeues_in_flight_and_forgets_unacked_mos() {
        let now = Instant::now();
        let mut s = bound(now);
        s.submit("1", "2", "first", now).unwrap();
        s.submit("1", "2", "second", now).unwrap();
        s.submit("1", "2", "third", now).unwrap();
        assert_eq!(submits(&sent(&mut s)).len(), 2);
        s.receive(&deliver(8, "861", "CX 1"), now);
        let ev = events(&mut s);
        let [Event::Mo(mo)] = &ev[..] else { panic!() };
        let mo = mo.clone();
        s.disconnected();
        // The handler finishing after the drop must not ack on the new connection.
        s.connected(now);
        let seq = sent(&mut s)[0].sequence;
        s.mo_handled(&mo, Some("late"), now);
        assert!(sent(&mut s).is_empty());
        s.receive(
            &bytes(Pdu::new(
                seq,
                Body::BindTransceiverResp {
                    system_id: "S".into(),
                    tlvs: vec![],
                },
            )),
            now,
        );
        let again = submits(&sent(&mut s));
        let texts: Vec<&[u8]> = again.iter().map(|(_, m)| &m.short_message[..]).collect();
        assert_eq!(texts, vec![&b"first"[..], &b"second"[..]]);
        assert_eq!(s.queued(), 1);
    }

    #[test]
    fn unbind_both_ways() {
        let now = Instant::now();
        let mut s = bound(now);
        s.unbind(now);
        let out = sent(&mut s);
        assert_eq!(out[0].body, Body::Unbind);
        s.receive(&bytes(Pdu::new(out[0].sequence, Body::UnbindResp)), now);
        assert!(matches!(events(&mut s)[..], [Event::Close { .. }]));

        let mut s = bound(now);
        s.receive(&bytes(Pdu::new(3, Body::Unbind)), now);
        assert_eq!(sent(&mut s), vec![Pdu::new(3, Body::UnbindResp)]);
        assert!(matches!(events(&mut s)[..], [Event::Close { .. }]));
    }

    #[test]
    fn deliver_before_bind_is_refused() {
        let now = Instant::now();
        let mut s = Session::new(cfg());
        s.connected(now);
        sent(&mut s);
        s.receive(&deliver(4, "861", "x"), now);
        let out = sent(&mut s);
        assert_eq!(out[0].status, status::INVALID_BIND_STATUS);
        assert!(events(&mut s).is_empty());
    }

    #[test]
    fn backoff_doubles_to_the_cap_and_resets() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_millis(500));
        let d: Vec<u128> = (0..5).map(|_| b.next_delay().as_millis()).collect();
        assert_eq!(d, vec![100, 200, 400, 500, 500]);
        b.reset();
        assert_eq!(b.next_delay(), Duration::from_millis(100));
    }

    #[test]
    fn random_bytes_never_panic_the_session() {
        use proptest::prelude::*;
        proptest!(|(chunks in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..64), 0..20))| {
            let now = Instant::now();
            let mut s = bound(now);
            for c in chunks {
                s.receive(&c, now);
                s.tick(now);
            }
            let _ = s.take_output();
        });
    }
}
