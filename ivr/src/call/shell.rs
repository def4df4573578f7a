//! The tokio task of one call: its RTP socket's receive side, its signalling, and the core's
//! services.
//!
//! It owns nothing but I/O: every decision is [`CallCore`]'s. The 20 ms media clock is not
//! here — one [`MediaClock`](super::clock::MediaClock) thread ticks every call and sends the
//! packets; what a tick produces besides packets (verify, report, hang up, transfer) arrives on
//! this task's request channel. Each loop turn waits for a datagram, a signalling input, a
//! request from the clock or a core answer, feeds it to the call, and carries out the outputs —
//! asking the [`Verifier`] (in a task of its own, so nothing waits for the database), checking
//! the caller's rate limit (`zhenwei_core::rate_limit`, the limiter every channel uses) and
//! whether the core has caught this caller enumerating codes, telling the SIP side to hang up or
//! transfer.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use zhenwei_core::call_log::CallQuery;
use zhenwei_core::rate_limit::{Decision, RateLimiter};
use zhenwei_core::verdict::Channel;
use zhenwei_core::{Verdict, Verifier};

use super::clock::Playing;
use super::{CallCore, CallOutput};
use crate::dtmf::Digit;
use crate::menu::{Failure, MenuConfig};
use crate::prompts::{Library, NameVoices};
use crate::sdp::Negotiated;

/// What every call of a server shares.
pub struct CallDeps {
    /// `None`: no core (benchmarks); every verification fails politely.
    pub verifier: Option<Verifier>,
    pub library: Arc<Library>,
    pub names: Arc<dyn NameVoices>,
    /// Per-caller token bucket; `None`: unlimited (tests, benchmarks).
    pub limit: Option<Mutex<RateLimiter<String>>>,
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
    /// The dialog ended (BYE either way, CANCEL, no ACK), with the call log's cause:
    /// `caller_bye`, `local_bye`, `cancelled`, `no_ack`.
    Ended(&'static str),
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
    /// The menu's language at the end (`zh`, `en`).
    pub lang: &'static str,
    /// Codes keyed, with their verdicts.
    pub queries: Vec<CallQuery>,
    /// The case a report opened.
    pub case_id: Option<i64>,
    pub transfer_to: Option<String>,
    /// Why the call ended (see [`CallRecord::hangup`](zhenwei_core::call_log::CallRecord)).
    pub hangup: &'static str,
}

/// The call's task, started once its [`Playing`] is on the media clock.
pub struct CallTask {
    pub deps: Arc<CallDeps>,
    /// The receive side of the call's RTP socket (the clock sends through a clone).
    pub socket: UdpSocket,
    pub playing: Arc<Playing>,
    /// What the clock's ticks asked for.
    pub requests: mpsc::UnboundedReceiver<CallOutput>,
    pub signal: Signal,
}

/// Starts a call's task. Returns its input and its handle.
pub fn spawn(
    task: CallTask,
) -> (
    mpsc::UnboundedSender<CallInput>,
    tokio::task::JoinHandle<CallSummary>,
) {
    let (tx, rx) = mpsc::unbounded_channel();
    let handle = tokio::spawn(run(task, rx));
    (tx, handle)
}

fn allowed(deps: &CallDeps, source: &str) -> bool {
    match &deps.limit {
        None => true,
        Some(l) => matches!(
            l.lock()
                .unwrap_or_else(PoisonError::into_inner)
                .check(source.to_owned(), Instant::now()),
            Decision::Allowed
        ),
    }
}

async fn run(t: CallTask, mut input: mpsc::UnboundedReceiver<CallInput>) -> CallSummary {
    let CallTask {
        deps,
        socket,
        playing,
        mut requests,
        signal,
    } = t;
    let (answer_tx, mut answers) = mpsc::unbounded_channel::<Answer>();
    let mut buf = vec![0u8; 2048];
    let started = tokio::time::Instant::now();
    let mut leave_at = started + deps.max_call;
    let mut leaving = false;
    let mut summary = CallSummary::default();
    let mut pending: VecDeque<CallOutput> = playing.core().start().into();
    loop {
        while let Some(o) = pending.pop_front() {
            match o {
                CallOutput::Send { packet, to } => {
                    if let Err(e) = socket.send_to(&packet, to).await {
                        tracing::debug!(error = %e, %to, "rtp send");
                    }
                }
                CallOutput::Verify(mut q) => {
                    summary.queries.push(CallQuery {
                        code: q.input.clone(),
                        ..CallQuery::default()
                    });
                    let verifier = match (&deps.verifier, allowed(&deps, &q.source)) {
                        (_, false) => {
                            pending.extend(playing.core().on_verdict(Err(Failure::RateLimited)));
                            continue;
                        }
                        (None, true) => {
                            pending.extend(playing.core().on_verdict(Err(Failure::Unavailable)));
                            continue;
                        }
                        (Some(v), true) => v.clone(),
                    };
                    let tx = answer_tx.clone();
                    tokio::spawn(async move {
                        q.place =
                            zhenwei_core::numbers::place_or_unknown(&verifier, &q.source).await;
                        // A caller caught enumerating hears what a rate-limited one hears, and
                        // the guess never reaches the core.
                        let r = match verifier.enumerating(Channel::Ivr, &q.source).await {
                            Ok(true) => Err(Failure::RateLimited),
                            Ok(false) => verifier.verify(&q).await.map_err(|e| {
                                tracing::warn!(error = %e, "ivr verification failed");
                                Failure::Unavailable
                            }),
                            Err(e) => {
                                tracing::warn!(error = %e, "ivr enumeration check failed");
                                Err(Failure::Unavailable)
                            }
                        };
                        let _ = tx.send(Answer::Verdict(Box::new(r)));
                    });
                }
                CallOutput::Report {
                    query: mut q,
                    event_id,
                } => {
                    let Some(verifier) = deps.verifier.clone() else {
                        pending.extend(playing.core().on_report(Err(())));
                        continue;
                    };
                    let tx = answer_tx.clone();
                    tokio::spawn(async move {
                        q.place =
                            zhenwei_core::numbers::place_or_unknown(&verifier, &q.source).await;
                        // Filed against the query whose verdict was played: no second query.
                        let r = verifier
                            .report_seen(&q, None, Some(event_id))
                            .await
                            .map(|filed| filed.case_id())
                            .map_err(|e| {
                                tracing::warn!(error = %e, "ivr report failed");
                            });
                        let _ = tx.send(Answer::Report(r));
                    });
                }
                CallOutput::Hangup => {
                    summary.hung_up_by_us = true;
                    signal(SignalCommand::Hangup);
                    leaving = true;
                    leave_at = tokio::time::Instant::now() + Duration::from_secs(5);
                }
                CallOutput::Transfer(uri) => {
                    summary.transfer_to = Some(uri.clone());
                    signal(SignalCommand::Transfer(uri));
                    leaving = true;
                    leave_at = tokio::time::Instant::now() + Duration::from_secs(60);
                }
            }
        }
        tokio::select! {
            () = tokio::time::sleep_until(leave_at) => {
                if leaving {
                    break;
                }
                tracing::info!("call reached its maximum duration");
                summary.hangup = "max_duration";
                pending.push_back(CallOutput::Hangup);
            }
            Some(o) = requests.recv() => pending.push_back(o),
            r = socket.recv_from(&mut buf) => match r {
                Ok((n, from)) => {
                    summary.packets_received += 1;
                    let out = playing.core().on_rtp(buf.get(..n).unwrap_or_default(), from);
                    pending.extend(out);
                }
                // ICMP port unreachable and the like: the peer may come back.
                Err(e) => tracing::debug!(error = %e, "rtp receive"),
            },
            i = input.recv() => match i {
                Some(CallInput::Digit(d)) => {
                    let out = playing.core().on_info_digit(d);
                    pending.extend(out);
                }
                Some(CallInput::Renegotiated(n)) => playing.core().renegotiate(n),
                Some(CallInput::Ended(cause)) => {
                    summary.hangup = match cause {
                        "local_bye" if summary.transfer_to.is_some() => "transferred",
                        "local_bye" if summary.hangup == "max_duration" => "max_duration",
                        "local_bye" => "goodbye",
                        other => other,
                    };
                    break;
                }
                None => break,
            },
            Some(a) = answers.recv() => {
                let out = match a {
                    Answer::Verdict(r) => {
                        let r = *r;
                        if let Ok(v) = &r {
                            summary.verdict = Some(v.authenticity.as_str());
                            if let Some(last) = summary.queries.last_mut() {
                                last.authenticity = Some(v.authenticity.as_str().to_owned());
                                last.event_id = Some(v.event_id);
                            }
                        }
                        playing.core().on_verdict(r)
                    }
                    Answer::Report(r) => {
                        if let Ok(Some(case)) = r {
                            summary.case_id = Some(case);
                        }
                        playing.core().on_report(r)
                    }
                };
                pending.extend(out);
            },
        }
    }
    if summary.hangup.is_empty() {
        summary.hangup = "ended";
    }
    summary.lang = if playing.core().lang().is_en() {
        "en"
    } else {
        "zh"
    };
    summary.keys = playing.core().keys_received();
    summary.packets_sent = playing.packets_sent();
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
