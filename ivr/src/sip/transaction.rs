//! Transactions (RFC 3261 §17): one request and its responses, made reliable over unreliable
//! transports by retransmission timers.
//!
//! Each transaction is a state machine. It takes an input — the request arriving again, the
//! user agent's response, an ACK, the current time — and returns [`TxAction`]s: bytes to send,
//! or word that it timed out or ended. It never reads a clock: the caller passes `now` and asks
//! [`next_deadline`](InviteServer::next_deadline) when to call back.
//!
//! - [`InviteServer`]: Proceeding → (2xx) Accepted → Terminated on ACK, or (3xx–6xx) Completed →
//!   Confirmed on ACK → Terminated. The 2xx is retransmitted T1, 2·T1 … capped at T2 until its ACK
//!   arrives (the Accepted state of RFC 6026 holds what RFC 3261 §13.3.1.4 gives the core), for at
//!   most 64·T1 (timer H's span); a final error response by timer G until ACK or timer H; the
//!   Confirmed state absorbs ACK retransmissions for T4 (timer I).
//! - [`NonInviteServer`]: Trying → Proceeding → Completed, which answers retransmitted requests
//!   with the final response for 64·T1 (timer J) before ending.
//! - [`NonInviteClient`]: for the requests we send in a dialog (BYE, REFER, NOTIFY answers):
//!   retransmit by timer E, give up by timer F, absorb retransmitted responses for T4 (timer K).
//!
//! Over a reliable transport (TCP, TLS) nothing is retransmitted and the absorbing states end at
//! once. [`TxKey`] says which transaction a request belongs to: the Via branch when it carries the
//! RFC 3261 magic cookie, otherwise the RFC 2543 rule (Request-URI, From tag, Call-ID, CSeq, Via).

use std::time::{Duration, Instant};

use super::message::Request;

/// Round-trip time estimate (RFC 3261 timer T1).
pub const T1: Duration = Duration::from_millis(500);
/// Longest retransmission interval for non-INVITE requests and INVITE responses.
pub const T2: Duration = Duration::from_secs(4);
/// How long a message may stay in the network.
pub const T4: Duration = Duration::from_secs(5);

/// What the caller must do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TxAction {
    /// Send these bytes to the peer (a response, or a retransmission).
    Send(Vec<u8>),
    /// No ACK (server) or no final response (client) arrived in time.
    Timeout,
    /// The transaction is over; forget it.
    Terminated,
}

/// Which transaction a request belongs to.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TxKey {
    /// RFC 3261: the branch, the sent-by of the top Via and the method (ACK and CANCEL are
    /// mapped by the caller as needed).
    Branch {
        branch: String,
        sent_by: String,
        method: String,
    },
    /// RFC 2543 compatibility (§17.2.3): no usable branch.
    Legacy {
        request_uri: String,
        from_tag: String,
        call_id: String,
        cseq: u32,
        via: String,
        method: String,
    },
}

impl TxKey {
    /// The key of `request`'s own transaction; an ACK belongs to its INVITE's.
    pub fn of(request: &Request) -> TxKey {
        let method = if request.method == "ACK" {
            "INVITE"
        } else {
            request.method.as_str()
        };
        TxKey::with_method(request, method)
    }

    /// The key of the transaction `request` would belong to if it had method `method` (a CANCEL
    /// looks for its INVITE this way).
    pub fn with_method(request: &Request, method: &str) -> TxKey {
        let via = request.top_via();
        if via.has_rfc3261_branch() {
            TxKey::Branch {
                branch: via.branch().unwrap_or_default().to_string(),
                sent_by: via.sent_by().to_ascii_lowercase(),
                method: method.to_string(),
            }
        } else {
            TxKey::Legacy {
                request_uri: request.uri.to_string(),
                from_tag: request.from.tag().unwrap_or_default().to_string(),
                call_id: request.call_id.clone(),
                cseq: request.cseq.number,
                via: format!("{}|{}", via.sent_by(), via.branch().unwrap_or_default()),
                method: method.to_string(),
            }
        }
    }
}

/// States of an INVITE server transaction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InviteState {
    Proceeding,
    /// A 2xx was sent; retransmitting it until the ACK.
    Accepted,
    /// A 3xx–6xx was sent; retransmitting it until the ACK.
    Completed,
    /// The ACK arrived; absorbing its retransmissions.
    Confirmed,
    Terminated,
}

/// The INVITE server transaction.
#[derive(Debug)]
pub struct InviteServer {
    state: InviteState,
    reliable: bool,
    last: Option<Vec<u8>>,
    retransmit_at: Option<Instant>,
    interval: Duration,
    give_up_at: Option<Instant>,
    end_at: Option<Instant>,
}

impl InviteServer {
    /// A new transaction for an INVITE that just arrived. The caller sends 100 Trying through
    /// [`respond`](Self::respond) at once.
    pub fn new(reliable: bool) -> InviteServer {
        InviteServer {
            state: InviteState::Proceeding,
            reliable,
            last: None,
            retransmit_at: None,
            interval: T1,
            give_up_at: None,
            end_at: None,
        }
    }

    pub fn state(&self) -> InviteState {
        self.state
    }

    /// The INVITE arrived again: repeat the last response.
    pub fn on_request(&mut self) -> Vec<TxAction> {
        match (&self.state, &self.last) {
            (
                InviteState::Proceeding | InviteState::Accepted | InviteState::Completed,
                Some(last),
            ) => vec![TxAction::Send(last.clone())],
            _ => vec![],
        }
    }

    /// The user agent responds with `status`, written as `bytes`.
    pub fn respond(&mut self, status: u16, bytes: Vec<u8>, now: Instant) -> Vec<TxAction> {
        if self.state != InviteState::Proceeding {
            return vec![];
        }
        self.last = Some(bytes.clone());
        if status >= 200 {
            self.state = if status < 300 {
                InviteState::Accepted
            } else {
                InviteState::Completed
            };
            self.interval = T1;
            self.retransmit_at = (!self.reliable).then_some(now + T1);
            self.give_up_at = Some(now + 64 * T1);
        }
        vec![TxAction::Send(bytes)]
    }

    /// The ACK arrived (for a 2xx the core matched it through the dialog).
    pub fn on_ack(&mut self, now: Instant) -> Vec<TxAction> {
        match self.state {
            InviteState::Accepted => self.terminate(),
            InviteState::Completed => {
                self.state = InviteState::Confirmed;
                self.retransmit_at = None;
                self.give_up_at = None;
                if self.reliable {
                    return self.terminate();
                }
                self.end_at = Some(now + T4);
                vec![]
            }
            _ => vec![],
        }
    }

    fn terminate(&mut self) -> Vec<TxAction> {
        self.state = InviteState::Terminated;
        self.retransmit_at = None;
        self.give_up_at = None;
        self.end_at = None;
        vec![TxAction::Terminated]
    }

    /// When [`on_timer`](Self::on_timer) must next be called.
    pub fn next_deadline(&self) -> Option<Instant> {
        [self.retransmit_at, self.give_up_at, self.end_at]
            .into_iter()
            .flatten()
            .min()
    }

    /// Time has passed: timers G (retransmit), H (give up) and I (end).
    pub fn on_timer(&mut self, now: Instant) -> Vec<TxAction> {
        if self.give_up_at.is_some_and(|t| now >= t) {
            let mut out = vec![TxAction::Timeout];
            out.extend(self.terminate());
            return out;
        }
        if self.end_at.is_some_and(|t| now >= t) {
            return self.terminate();
        }
        let mut out = Vec::new();
        if let (Some(at), Some(last)) = (self.retransmit_at, &self.last) {
            if now >= at {
                out.push(TxAction::Send(last.clone()));
                self.interval = (self.interval * 2).min(T2);
                self.retransmit_at = Some(now + self.interval);
            }
        }
        out
    }
}

/// States of a non-INVITE server transaction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NonInviteState {
    Trying,
    Proceeding,
    Completed,
    Terminated,
}

/// The non-INVITE server transaction.
#[derive(Debug)]
pub struct NonInviteServer {
    state: NonInviteState,
    reliable: bool,
    last: Option<Vec<u8>>,
    end_at: Option<Instant>,
}

impl NonInviteServer {
    pub fn new(reliable: bool) -> NonInviteServer {
        NonInviteServer {
            state: NonInviteState::Trying,
            reliable,
            last: None,
            end_at: None,
        }
    }

    pub fn state(&self) -> NonInviteState {
        self.state
    }

    /// The request arrived again: repeat the last response (nothing while Trying).
    pub fn on_request(&mut self) -> Vec<TxAction> {
        match (&self.state, &self.last) {
            (NonInviteState::Proceeding | NonInviteState::Completed, Some(last)) => {
                vec![TxAction::Send(last.clone())]
            }
            _ => vec![],
        }
    }

    pub fn respond(&mut self, status: u16, bytes: Vec<u8>, now: Instant) -> Vec<TxAction> {
        if matches!(
            self.state,
            NonInviteState::Completed | NonInviteState::Terminated
        ) {
            return vec![];
        }
        self.last = Some(bytes.clone());
        let mut out = vec![TxAction::Send(bytes)];
        if status < 200 {
            self.state = NonInviteState::Proceeding;
        } else if self.reliable {
            self.state = NonInviteState::Terminated;
            out.push(TxAction::Terminated);
        } else {
            self.state = NonInviteState::Completed;
            self.end_at = Some(now + 64 * T1);
        }
        out
    }

    pub fn next_deadline(&self) -> Option<Instant> {
        self.end_at
    }

    /// Timer J.
    pub fn on_timer(&mut self, now: Instant) -> Vec<TxAction> {
        if self.end_at.is_some_and(|t| now >= t) {
            self.state = NonInviteState::Terminated;
            self.end_at = None;
            return vec![TxAction::Terminated];
        }
        vec![]
    }
}

/// The non-INVITE client transaction (requests we send inside a dialog).
#[derive(Debug)]
pub struct NonInviteClient {
    state: NonInviteState,
    reliable: bool,
    request: Vec<u8>,
    retransmit_at: Option<Instant>,
    interval: Duration,
    give_up_at: Option<Instant>,
    end_at: Option<Instant>,
}

impl NonInviteClient {
    /// Starts the transaction; send the returned bytes.
    pub fn start(
        request: Vec<u8>,
        reliable: bool,
        now: Instant,
    ) -> (NonInviteClient, Vec<TxAction>) {
        let tx = NonInviteClient {
            state: NonInviteState::Trying,
            reliable,
            request: request.clone(),
            retransmit_at: (!reliable).then_some(now + T1),
            interval: T1,
            give_up_at: Some(now + 64 * T1),
            end_at: None,
        };
        (tx, vec![TxAction::Send(request)])
    }

    pub fn state(&self) -> NonInviteState {
        self.state
    }

    /// A response arrived. Returns whether the user agent should see it (the first final one,
    /// or a provisional one).
    pub fn on_response(&mut self, status: u16, now: Instant) -> (bool, Vec<TxAction>) {
        match self.state {
            NonInviteState::Trying | NonInviteState::Proceeding if status < 200 => {
                self.state = NonInviteState::Proceeding;
                (true, vec![])
            }
            NonInviteState::Trying | NonInviteState::Proceeding => {
                self.retransmit_at = None;
                self.give_up_at = None;
                if self.reliable {
                    self.state = NonInviteState::Terminated;
                    return (true, vec![TxAction::Terminated]);
                }
                self.state = NonInviteState::Completed;
                self.end_at = Some(now + T4);
                (true, vec![])
            }
            _ => (false, vec![]),
        }
    }

    pub fn next_deadline(&self) -> Option<Instant> {
        [self.retransmit_at, self.give_up_at, self.end_at]
            .into_iter()
            .flatten()
            .min()
    }

    /// Timers E (retransmit), F (give up) and K (end).
    pub fn on_timer(&mut self, now: Instant) -> Vec<TxAction> {
        if self.give_up_at.is_some_and(|t| now >= t) || self.end_at.is_some_and(|t| now >= t) {
            let timed_out = self.give_up_at.is_some();
            self.state = NonInviteState::Terminated;
            self.retransmit_at = None;
            self.give_up_at = None;
            self.end_at = None;
            return if timed_out {
                vec![TxAction::Timeout, TxAction::Terminated]
            } else {
                vec![TxAction::Terminated]
            };
        }
        let mut out = Vec::new();
        if let Some(at) = self.retransmit_at {
            if now >= at {
                out.push(TxAction::Send(self.request.clone()));
                self.interval = if self.state == NonInviteState::Proceeding {
                    T2
                } else {
                    (self.interval * 2).min(T2)
                };
                self.retransmit_at = Some(now + self.interval);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sip::message::{parse_datagram, Parsed};

    fn sends(actions: &[TxAction]) -> usize {
        actions
            .iter()
            .filter(|a| matches!(a, TxAction::Send(_)))
            .count()
    }

    /// Runs `tx`'s timers from `start` until `until`, returning (time, actions) of each firing.
    fn run_invite(tx: &mut InviteServer, until: Instant) -> Vec<(Instant, Vec<TxAction>)> {
        let mut fired = Vec::new();
        while let Some(at) = tx.next_deadline() {
            if at > until {
                break;
            }
            fired.push((at, tx.on_timer(at)));
        }
        fired
    }

    #[test]
    fn invite_provisional_is_repeated_on_retransmitted_invite() {
        let now = Instant::now();
        let mut tx = InviteServer::new(false);
        assert_eq!(tx.on_request(), vec![], "nothing sent yet");
        tx.respond(100, b"100".to_vec(), now);
        tx.respond(180, b"180".to_vec(), now);
        assert_eq!(tx.state(), InviteState::Proceeding);
        assert_eq!(tx.on_request(), vec![TxAction::Send(b"180".to_vec())]);
        assert_eq!(tx.next_deadline(), None, "no timers while proceeding");
    }

    #[test]
    fn invite_2xx_is_retransmitted_doubling_to_t2_until_ack() {
        let now = Instant::now();
        let mut tx = InviteServer::new(false);
        tx.respond(200, b"200".to_vec(), now);
        assert_eq!(tx.state(), InviteState::Accepted);
        let fired = run_invite(&mut tx, now + Duration::from_millis(15_600));
        let times: Vec<u128> = fired.iter().map(|(t, _)| (*t - now).as_millis()).collect();
        // T1, then intervals 1, 2, 4, 4, 4 s…
        assert_eq!(times, vec![500, 1500, 3500, 7500, 11500, 15500]);
        assert!(fired.iter().all(|(_, a)| sends(a) == 1));
        assert_eq!(
            tx.on_ack(now + Duration::from_secs(16)),
            vec![TxAction::Terminated]
        );
        assert_eq!(tx.state(), InviteState::Terminated);
        assert_eq!(tx.next_deadline(), None);
    }

    #[test]
    fn invite_2xx_without_ack_times_out_after_64_t1() {
        let now = Instant::now();
        let mut tx = InviteServer::new(false);
        tx.respond(200, b"200".to_vec(), now);
        let fired = run_invite(&mut tx, now + Duration::from_secs(60));
        let (at, last) = fired.last().unwrap();
        assert_eq!(*at - now, 64 * T1);
        assert_eq!(last, &vec![TxAction::Timeout, TxAction::Terminated]);
    }

    #[test]
    fn invite_error_response_retransmits_by_timer_g_then_ack_confirms_then_timer_i_ends() {
        let now = Instant::now();
        let mut tx = InviteServer::new(false);
        tx.respond(486, b"486".to_vec(), now);
        assert_eq!(tx.state(), InviteState::Completed);
        assert_eq!(tx.on_request(), vec![TxAction::Send(b"486".to_vec())]);
        assert_eq!(tx.on_timer(now + T1), vec![TxAction::Send(b"486".to_vec())]);
        let ack_at = now + T1 * 2;
        assert_eq!(tx.on_ack(ack_at), vec![]);
        assert_eq!(tx.state(), InviteState::Confirmed);
        assert_eq!(tx.on_request(), vec![], "confirmed absorbs");
        assert_eq!(tx.next_deadline(), Some(ack_at + T4));
        assert_eq!(tx.on_timer(ack_at + T4), vec![TxAction::Terminated]);
    }

    #[test]
    fn invite_error_response_without_ack_ends_by_timer_h() {
        let now = Instant::now();
        let mut tx = InviteServer::new(false);
        tx.respond(603, b"603".to_vec(), now);
        let fired = run_invite(&mut tx, now + Duration::from_secs(60));
        assert_eq!(
            fired.last().unwrap().1,
            vec![TxAction::Timeout, TxAction::Terminated]
        );
        assert_eq!(fired.last().unwrap().0 - now, 64 * T1);
    }

    #[test]
    fn invite_over_reliable_transport_never_retransmits() {
        let now = Instant::now();
        let mut tx = InviteServer::new(true);
        tx.respond(488, b"488".to_vec(), now);
        assert_eq!(tx.next_deadline(), Some(now + 64 * T1), "only timer H");
        assert_eq!(
            tx.on_ack(now),
            vec![TxAction::Terminated],
            "timer I is zero"
        );
    }

    #[test]
    fn invite_final_response_only_once() {
        let now = Instant::now();
        let mut tx = InviteServer::new(false);
        tx.respond(200, b"200".to_vec(), now);
        assert_eq!(tx.respond(487, b"487".to_vec(), now), vec![]);
    }

    #[test]
    fn non_invite_trying_proceeding_completed_terminated() {
        let now = Instant::now();
        let mut tx = NonInviteServer::new(false);
        assert_eq!(tx.state(), NonInviteState::Trying);
        assert_eq!(tx.on_request(), vec![], "Trying absorbs retransmissions");
        tx.respond(100, b"100".to_vec(), now);
        assert_eq!(tx.state(), NonInviteState::Proceeding);
        assert_eq!(tx.on_request(), vec![TxAction::Send(b"100".to_vec())]);
        tx.respond(200, b"200".to_vec(), now);
        assert_eq!(tx.state(), NonInviteState::Completed);
        assert_eq!(tx.on_request(), vec![TxAction::Send(b"200".to_vec())]);
        assert_eq!(
            tx.respond(500, b"500".to_vec(), now),
            vec![],
            "final is final"
        );
        assert_eq!(tx.next_deadline(), Some(now + 64 * T1));
        assert_eq!(tx.on_timer(now + 64 * T1), vec![TxAction::Terminated]);
        assert_eq!(tx.state(), NonInviteState::Terminated);
    }

    #[test]
    fn non_invite_over_reliable_transport_ends_with_the_final_response() {
        let now = Instant::now();
        let mut tx = NonInviteServer::new(true);
        let out = tx.respond(200, b"200".to_vec(), now);
        assert_eq!(
            out,
            vec![TxAction::Send(b"200".to_vec()), TxAction::Terminated]
        );
    }

    #[test]
    fn client_retransmits_by_timer_e_and_gives_up_by_timer_f() {
        let now = Instant::now();
        let (mut tx, first) = NonInviteClient::start(b"BYE".to_vec(), false, now);
        assert_eq!(first, vec![TxAction::Send(b"BYE".to_vec())]);
        let mut times = Vec::new();
        let mut last = Vec::new();
        while let Some(at) = tx.next_deadline() {
            last = tx.on_timer(at);
            times.push((at - now).as_millis());
        }
        assert_eq!(&times[..5], &[500, 1500, 3500, 7500, 11500]);
        assert_eq!(*times.last().unwrap(), 32_000);
        assert_eq!(last, vec![TxAction::Timeout, TxAction::Terminated]);
    }

    #[test]
    fn client_completes_on_final_response_and_absorbs_by_timer_k() {
        let now = Instant::now();
        let (mut tx, _) = NonInviteClient::start(b"REFER".to_vec(), false, now);
        assert_eq!(tx.on_response(100, now), (true, vec![]));
        assert_eq!(tx.state(), NonInviteState::Proceeding);
        assert_eq!(
            tx.on_timer(now + T1),
            vec![TxAction::Send(b"REFER".to_vec())]
        );
        assert_eq!(
            tx.next_deadline(),
            Some(now + T1 + T2),
            "proceeding retransmits at T2"
        );
        assert_eq!(tx.on_response(202, now + T1), (true, vec![]));
        assert_eq!(
            tx.on_response(202, now + T1),
            (false, vec![]),
            "retransmission absorbed"
        );
        assert_eq!(tx.next_deadline(), Some(now + T1 + T4));
        assert_eq!(tx.on_timer(now + T1 + T4), vec![TxAction::Terminated]);
    }

    fn request(text: &str) -> Request {
        match parse_datagram(text.as_bytes()) {
            Parsed::Request(r) => *r,
            other => panic!("{other:?}"),
        }
    }

    fn msg(method: &str, cseq_method: &str, branch: &str) -> String {
        format!(
            "{method} sip:ivr@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.1:5060{branch}\r\n\
             From: <sip:a@192.0.2.1>;tag=f\r\nTo: <sip:ivr@127.0.0.1>\r\nCall-ID: k\r\n\
             CSeq: 7 {cseq_method}\r\nContent-Length: 0\r\n\r\n"
        )
    }

    #[test]
    fn keys_match_by_branch_and_ack_maps_to_invite() {
        let invite = request(&msg("INVITE", "INVITE", ";branch=z9hG4bK1"));
        let ack = request(&msg("ACK", "ACK", ";branch=z9hG4bK1"));
        let cancel = request(&msg("CANCEL", "CANCEL", ";branch=z9hG4bK1"));
        let other = request(&msg("INVITE", "INVITE", ";branch=z9hG4bK2"));
        assert_eq!(TxKey::of(&invite), TxKey::of(&ack));
        assert_ne!(TxKey::of(&invite), TxKey::of(&cancel));
        assert_eq!(TxKey::with_method(&cancel, "INVITE"), TxKey::of(&invite));
        assert_ne!(TxKey::of(&invite), TxKey::of(&other));
    }

    #[test]
    fn keys_fall_back_to_rfc_2543_without_a_cookie() {
        let invite = request(&msg("INVITE", "INVITE", ""));
        let ack = request(&msg("ACK", "ACK", ""));
        assert!(matches!(TxKey::of(&invite), TxKey::Legacy { .. }));
        assert_eq!(TxKey::of(&invite), TxKey::of(&ack));
        let bare = request(&msg("OPTIONS", "OPTIONS", ";branch=z9hG4bK"));
        assert!(
            matches!(TxKey::of(&bare), TxKey::Legacy { .. }),
            "bare cookie"
        );
    }
}
