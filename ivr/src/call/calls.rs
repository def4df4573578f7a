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
use super::shell::{self, CallDeps, CallInput, Signal};
use crate::dtmf::Digit;
use crate::sdp::{MediaSession, Negotiated, SdpError};

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

struct Entry {
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
    pub fn answer(&mut self, call: u64, offer: &str) -> Result<String, AnswerError> {
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
                session,
                negotiated,
                socket: Some(socket),
                input: None,
            },
        );
        Ok(body)
    }

    /// The call is established (ACK): start media and the menu. `caller` is the From URI.
    pub fn start(&mut self, call: u64, caller: &str, signal: Signal) {
        let Some(e) = self.calls.get_mut(&call) else {
            tracing::warn!(call, "start of a call that was never answered");
            return;
        };
        let Some(std_socket) = e.socket.take() else {
            return; // already started (a retransmitted ACK)
        };
        let socket = match tokio::net::UdpSocket::from_std(std_socket) {
            Ok(s) => s,
            Err(err) => {
                tracing::warn!(call, error = %err, "cannot use the RTP socket");
                signal(shell::SignalCommand::Hangup);
                return;
            }
        };
        let source = caller_source(caller);
        let masked = zhenwei_core::codes::text::mask_phone(&source);
        let core = shell::core_for(&self.deps, e.negotiated.clone(), source);
        let (tx, task) = shell::spawn(self.deps.clone(), socket, core, signal);
        e.input = Some(tx);
        tokio::spawn(async move {
            if let Ok(s) = task.await {
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

    /// The dialog is over: stop the call and free its port.
    pub fn end(&mut self, call: u64) {
        if let Some(e) = self.calls.remove(&call) {
            if let Some(tx) = e.input {
                let _ = tx.send(CallInput::Ended);
            }
        }
    }
}
