//! The calls of one server, as the SIP user agent sees them.
//!
//! The user agent answers an INVITE synchronously: [`Calls::answer`] binds the call's RTP port,
//! runs SDP offer/answer and returns the answer body (or the error that becomes 488). When the
//! ACK arrives, [`Calls::start`] starts the call's [`shell`](super::shell) task; key presses
//! from SIP INFO, re-offers and the end of the dialog are passed on by call id. A re-INVITE on
//! a running call goes through the same [`Calls::answer`], which keeps the call's SDP session
//! (same origin, version bumped when the answer changes) and hands the new negotiation to the
//! running call.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use tokio::sync::mpsc;

use super::caller_source;
use super::clock::{MediaClock, Playing};
use super::shell::{self, CallDeps, CallInput, CallSummary, CallTask, Signal};
use crate::dtmf::Digit;
use crate::sdp::{MediaSession, Negotiated, SdpError};
use crate::sip::call::{CallInfo, EndReason};
use zhenwei_core::call_log::{self, CallRecord};

/// Why an offer was not answered.
#[derive(Debug, thiserror::Error)]
pub enum AnswerError {
    /// 488 Not Acceptable Here.
    #[error(transparent)]
    NotAcceptable(#[from] SdpError),
    /// 486 Busy Here: the server's call limit.
    #[error("too many calls")]
    Busy,
    /// 503: no RTP port.
    #[error("cannot open an RTP port: {0}")]
    Unavailable(std::io::Error),
}

/// What the call log needs of the signalling.
#[derive(Clone, Debug)]
struct Meta {
    sip_call_id: String,
    caller: String,
    trunk: String,
    started_at: i64,
    answered_at: Option<i64>,
}

struct Entry {
    meta: Meta,
    session: MediaSession,
    negotiated: Negotiated,
    socket: Option<std::net::UdpSocket>,
    input: Option<mpsc::UnboundedSender<CallInput>>,
}

/// The running and ringing calls.
pub struct Calls {
    deps: Arc<CallDeps>,
    bind_ip: IpAddr,
    advertise_ip: IpAddr,
    max_calls: usize,
    calls: HashMap<u64, Entry>,
    /// Started with the first call.
    clock: Option<Arc<MediaClock>>,
}

impl Calls {
    /// RTP ports are bound on `bind_ip` and announced in SDP as `advertise_ip` (the address the
    /// trunk can reach; the same unless behind NAT or bound to a wildcard).
    pub fn new(
        deps: Arc<CallDeps>,
        bind_ip: IpAddr,
        advertise_ip: IpAddr,
        max_calls: usize,
    ) -> Calls {
        Calls {
            deps,
            bind_ip,
            advertise_ip,
            max_calls,
            calls: HashMap::new(),
            clock: None,
        }
    }

    /// Calls known (ringing or running).
    pub fn len(&self) -> usize {
        self.calls.len()
    }

    pub fn is_empty(&self) -> bool {
        self.calls.is_empty()
    }

    /// Answers an offer: the initial one of a new call, or a re-offer.
    pub fn answer(&mut self, info: &CallInfo, offer: &str) -> Result<String, AnswerError> {
        let call = info.id;
        if let Some(e) = self.calls.get_mut(&call) {
            let (n, body) = e.session.answer(offer)?;
            e.negotiated = n.clone();
            if let Some(tx) = &e.input {
                let _ = tx.send(CallInput::Renegotiated(n));
            }
            return Ok(body);
        }
        if self.calls.len() >= self.max_calls {
            return Err(AnswerError::Busy);
        }
        let socket = std::net::UdpSocket::bind(SocketAddr::new(self.bind_ip, 0))
            .and_then(|s| s.set_nonblocking(true).map(|()| s))
            .map_err(AnswerError::Unavailable)?;
        let port = socket
            .local_addr()
            .map_err(AnswerError::Unavailable)?
            .port();
        let mut session = MediaSession::new(
            SocketAddr::new(self.advertise_ip, port),
            rand::random::<u32>().into(),
        );
        let (negotiated, body) = session.answer(offer)?;
        self.calls.insert(
            call,
            Entry {
                meta: Meta {
                    sip_call_id: info.sip_call_id.clone(),
                    caller: caller_source(&info.caller),
                    trunk: info.remote.to_string(),
                    started_at: zhenwei_core::store::now_ms(),
                    answered_at: None,
                },
                session,
                negotiated,
                socket: Some(socket),
                input: None,
            },
        );
        Ok(body)
    }

    /// The call is established (ACK): start media and the menu.
    pub fn start(&mut self, call: u64, signal: Signal) {
        let Some(e) = self.calls.get_mut(&call) else {
            tracing::warn!(call, "start of a call that was never answered");
            return;
        };
        let Some(std_socket) = e.socket.take() else {
            return; // already started (a retransmitted ACK)
        };
        let clock = match &self.clock {
            Some(c) => c.clone(),
            None => match MediaClock::start() {
                Ok(c) => self.clock.insert(Arc::new(c)).clone(),
                Err(err) => {
                    tracing::warn!(call, error = %err, "cannot start the media clock");
                    signal(shell::SignalCommand::Hangup);
                    return;
                }
            },
        };
        let sockets = std_socket
            .try_clone()
            .and_then(|send| Ok((send, tokio::net::UdpSocket::from_std(std_socket)?)));
        let (send, socket) = match sockets {
            Ok(s) => s,
            Err(err) => {
                tracing::warn!(call, error = %err, "cannot use the RTP socket");
                signal(shell::SignalCommand::Hangup);
                return;
            }
        };
        e.meta.answered_at = Some(zhenwei_core::store::now_ms());
        let meta = e.meta.clone();
        let masked = zhenwei_core::codes::text::mask_phone(&meta.caller);
        let core = shell::core_for(&self.deps, e.negotiated.clone(), meta.caller.clone());
        let (requests_tx, requests) = mpsc::unbounded_channel();
        let playing = Arc::new(Playing::new(core, send, requests_tx));
        clock.add(call, playing.clone());
        let (tx, task) = shell::spawn(CallTask {
            deps: self.deps.clone(),
            socket,
            playing,
            requests,
            signal,
        });
        e.input = Some(tx);
        let deps = self.deps.clone();
        tokio::spawn(async move {
            let summary = task.await;
            clock.remove(call);
            if let Ok(s) = summary {
                log_call(&deps, meta, Some(&s)).await;
                tracing::info!(
                    call,
                    caller = %masked,
                    keys = s.keys,
                    verdict = s.verdict.unwrap_or("-"),
                    rtp_sent = s.packets_sent,
                    rtp_received = s.packets_received,
                    hung_up_by_us = s.hung_up_by_us,
                    "ivr call ended"
                );
            }
        });
    }

    /// A key press from SIP INFO.
    pub fn digit(&mut self, call: u64, d: Digit) {
        if let Some(tx) = self.calls.get(&call).and_then(|e| e.input.as_ref()) {
            let _ = tx.send(CallInput::Digit(d));
        }
    }

    /// The dialog is over: stop the call and free its port. A call that never started (CANCEL,
    /// no ACK) is logged here; a running one by its task when it has stopped.
    pub fn end(&mut self, call: u64, reason: EndReason) {
        let cause = match reason {
            EndReason::RemoteBye => "caller_bye",
            EndReason::LocalBye => "local_bye",
            EndReason::Cancelled => "cancelled",
            EndReason::NoAck => "no_ack",
        };
        if let Some(e) = self.calls.remove(&call) {
            match e.input {
                Some(tx) => {
                    let _ = tx.send(CallInput::Ended(cause));
                }
                None => {
                    let deps = self.deps.clone();
                    let summary = CallSummary {
                        hangup: cause,
                        ..CallSummary::default()
                    };
                    tokio::spawn(async move { log_call(&deps, e.meta, Some(&summary)).await });
                }
            }
        }
    }
}

/// Writes the call log row (when the server has a core).
async fn log_call(deps: &CallDeps, meta: Meta, s: Option<&CallSummary>) {
    let (Some(v), Some(s)) = (&deps.verifier, s) else {
        return;
    };
    let record = CallRecord {
        sip_call_id: meta.sip_call_id,
        caller: meta.caller,
        trunk: meta.trunk,
        started_at: meta.started_at,
        answered_at: meta.answered_at,
        ended_at: zhenwei_core::store::now_ms(),
        lang: (!s.lang.is_empty()).then(|| s.lang.to_owned()),
        queries: s.queries.clone(),
        case_id: s.case_id,
        transfer_to: s.transfer_to.clone(),
        hangup: s.hangup.to_owned(),
    };
    let keys = v.keys().current();
    if let Err(e) = call_log::record(v.store(), &keys.keyring, &record).await {
        tracing::warn!(error = %e, "cannot write the call log");
    }
}
