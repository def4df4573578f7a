//! The tokio shell of one call: a UDP socket, the 20 ms media clock, and the core's services.
//!
//! It owns nothing but I/O: every decision is [`CallCore`]'s. Each loop turn waits for the next
//! tick, a datagram, a signalling input or a core answer, feeds it to the call, and carries out
//! the outputs — sending RTP, asking the [`Verifier`] (in a task of its own, so the media clock
//! never waits for the database), checking the caller's rate limit, telling the SIP side to hang
//! up or transfer. The clock is a `tokio::time::interval`, whose ticks are scheduled on absolute
//! deadlines: a late turn is followed by an early one, so pacing does not drift.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use zhenwei_core::{Verdict, Verifier};

use super::{CallCore, CallOutput};
use crate::caller_limit::CallerLimit;
use crate::dtmf::Digit;
use crate::menu::{Failure, MenuConfig};
use crate::prompts::{Library, NameVoices};
use crate::rtp::PACKET_INTERVAL;
use crate::sdp::Negotiated;

/// What every call of a server shares.
pub struct CallDeps {
    /// `None`: no core (benchmarks); every verification fails politely.
    pub verifier: Option<Verifier>,
    pub library: Arc<Library>,
    pub names: Arc<dyn NameVoices>,
    pub limit: Arc<dyn CallerLimit>,
    pub menu: MenuConfig,
    /// A call longer than this is hung up.
    pub max_call: Duration,
}

/// What the signalling side tells a running call.
#[derive(Debug)]
pub enum CallInput {
    /// A key from SIP INFO.
    Digit(Digit),
    /// A re-offer was answered.
    Renegotiated(Negotiated),
    /// The dialog ended (BYE either way, CANCEL, no ACK).
    Ended,
}

/// What a call asks of the signalling side.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SignalCommand {
    Hangup,
    Transfer(String),
}

/// How a call reaches its signalling.
pub type Signal = Box<dyn Fn(SignalCommand) + Send + Sync>;

enum Answer {
    Verdict(Box<Result<Verdict, Failure>>),
    Report(Result<Option<i64>, ()>),
}

/// How a call went, for the call log.
#[derive(Clone, Debug, Default)]
pub struct CallSummary {
    pub packets_sent: u64,
    pub packets_received: u64,
    pub keys: usize,
    /// The last verdict's authenticity.
    pub verdict: Option<&'static str>,
    pub hung_up_by_us: bool,
}

/// Starts a call on `socket`. Returns its input and its task.
pub fn spawn(
    deps: Arc<CallDeps>,
    socket: UdpSocket,
    core: CallCore,
    signal: Signal,
) -> (
    mpsc::UnboundedSender<CallInput>,
    tokio::task::JoinHandle<CallSummary>,
) {
    let (tx, rx) = mpsc::unbounded_channel();
    let task = tokio::spawn(run(deps, socket, core, signal, rx));
    (tx, task)
}

async fn run(
    deps: Arc<CallDeps>,
    socket: UdpSocket,
    mut core: CallCore,
    signal: Signal,
    mut input: mpsc::UnboundedReceiver<CallInput>,
) -> CallSummary {
    let (answer_tx, mut answers) = mpsc::unbounded_channel::<Answer>();
    let mut clock = tokio::time::interval(PACKET_INTERVAL);
    let mut buf = vec![0u8; 2048];
    let started = Instant::now();
    let mut leave_at: Option<Instant> = None;
    let mut summary = CallSummary::default();
    let mut pending: VecDeque<CallOutput> = core.start().into();
    loop {
        while let Some(o) = pending.pop_front() {
            match o {
                CallOutput::Send { packet, to } => {
                    summary.packets_sent += 1;
                    if let Err(e) = socket.send_to(&packet, to).await {
                        tracing::debug!(error = %e, %to, "rtp send");
                    }
                }
                CallOutput::Verify(q) => {
                    let verifier =
                        match (&deps.verifier, deps.limit.allow(&q.source, Instant::now())) {
                            (_, false) => {
                                pending.extend(core.on_verdict(Err(Failure::RateLimited)));
                                continue;
                            }
                            (None, true) => {
                                pending.extend(core.on_verdict(Err(Failure::Unavailable)));
                                continue;
                            }
                            (Some(v), true) => v.clone(),
                        };
                    let tx = answer_tx.clone();
                    tokio::spawn(async move {
                        let r = verifier.verify(&q).await.map_err(|e| {
                            tracing::warn!(error = %e, "ivr verification failed");
                            Failure::Unavailable
                        });
                        let _ = tx.send(Answer::Verdict(Box::new(r)));
                    });
                }
                CallOutput::Report(q) => {
                    let Some(verifier) = deps.verifier.clone() else {
                        pending.extend(core.on_report(Err(())));
                        continue;
                    };
                    let tx = answer_tx.clone();
                    tokio::spawn(async move {
                        let r = verifier
                            .report(&q, None)
                            .await
                            .map(|v| v.case_id)
                            .map_err(|e| {
                                tracing::warn!(error = %e, "ivr report failed");
                            });
                        let _ = tx.send(Answer::Report(r));
                    });
                }
                CallOutput::Hangup => {
                    summary.hung_up_by_us = true;
                    signal(SignalCommand::Hangup);
                    leave_at = Some(Instant::now() + Duration::from_secs(5));
                }
                CallOutput::Transfer(uri) => {
                    signal(SignalCommand::Transfer(uri));
                    leave_at = Some(Instant::now() + Duration::from_secs(60));
                }
            }
        }
        let now = Instant::now();
        if leave_at.is_some_and(|t| now >= t) {
            break;
        }
        if leave_at.is_none() && now.duration_since(started) >= deps.max_call {
            tracing::info!("call reached its maximum duration");
            pending.push_back(CallOutput::Hangup);
            continue;
        }
        tokio::select! {
            _ = clock.tick() => pending.extend(core.tick()),
            r = socket.recv_from(&mut buf) => match r {
                Ok((n, from)) => {
                    summary.packets_received += 1;
                    pending.extend(core.on_rtp(buf.get(..n).unwrap_or_default(), from));
                }
                // ICMP port unreachable and the like: the peer may come back.
                Err(e) => tracing::debug!(error = %e, "rtp receive"),
            },
            i = input.recv() => match i {
                Some(CallInput::Digit(d)) => pending.extend(core.on_info_digit(d)),
                Some(CallInput::Renegotiated(n)) => core.renegotiate(n),
                Some(CallInput::Ended) | None => break,
            },
            Some(a) = answers.recv() => match a {
                Answer::Verdict(r) => {
                    let r = *r;
                    if let Ok(v) = &r {
                        summary.verdict = Some(v.authenticity.as_str());
                    }
                    pending.extend(core.on_verdict(r));
                }
                Answer::Report(r) => pending.extend(core.on_report(r)),
            },
        }
    }
    summary.keys = core.keys_received();
    summary
}

/// Convenience for callers that build a core from deps.
pub fn core_for(deps: &CallDeps, negotiated: Negotiated, source: String) -> CallCore {
    CallCore::new(
        negotiated,
        source,
        deps.menu.clone(),
        deps.library.clone(),
        deps.names.clone(),
    )
}
