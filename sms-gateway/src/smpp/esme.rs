//! # The tokio shell around [`Session`]
//!
//! [`run`] keeps one SMPP connection to the SMSC alive until shutdown: connect, let the session
//! bind, then loop — bytes from the socket go into the session, the session's output goes to a
//! writer task, its events are acted on (each MO runs the [`MoHandler`] in its own task, so slow
//! handlers overlap; the result comes back through a channel to [`Session::mo_handled`]), and the
//! session's next deadline is a timer. When the session asks to close, or the socket fails, the
//! shell waits a backoff delay (doubling up to a cap, reset after each good bind) and reconnects.
//! On shutdown it unbinds and waits for the SMSC's answer (or the response timeout).
//!
//! [`run_with`] also takes unsolicited MTs ([`Submission`]s from an
//! [`crate::outbound::SmppSender`]) while bound: each is tagged with its outbound-log id, and
//! once all its parts are answered the sender gets the SMSC's message ids. Accepted parts are
//! also reported to the [`ReceiptSink`] (so they are recorded even when the sender gave up
//! waiting). What is waiting survives a reconnect: the session re-queues parts in flight.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::session::{Backoff, Event, Mo, Session, SessionConfig};
use super::{MoHandler, ReceiptSink};
use crate::outbound::{SendOutcome, Submission};

/// An unsolicited MT whose parts are not all answered yet.
struct Waiting {
    left: usize,
    ids: Vec<String>,
    refused: Option<u32>,
    done: tokio::sync::oneshot::Sender<SendOutcome>,
}

type Outbox = Option<mpsc::UnboundedReceiver<Submission>>;

/// Where the SMSC is and how to talk to it.
#[derive(Debug, Clone)]
pub struct EsmeConfig {
    /// `host:port` of the SMSC.
    pub addr: String,
    pub session: SessionConfig,
    /// First reconnect delay.
    pub backoff_initial: Duration,
    /// Longest reconnect delay.
    pub backoff_max: Duration,
}

/// What ended one connection.
enum Ended {
    /// Reconnect after a backoff delay.
    Dropped,
    /// Shutdown was asked for and the session is over.
    Shutdown,
}

/// Runs the ESME until `shutdown` completes. Never returns early: connection failures are logged
/// and retried with backoff.
pub async fn run<H, R>(
    cfg: EsmeConfig,
    handler: Arc<H>,
    receipts: Arc<R>,
    shutdown: impl Future<Output = ()> + Send,
) where
    H: MoHandler,
    R: ReceiptSink,
{
    run_with(cfg, handler, receipts, None, shutdown).await;
}

/// [`run`], also submitting the unsolicited MTs that arrive on `outbox`.
pub async fn run_with<H, R>(
    cfg: EsmeConfig,
    handler: Arc<H>,
    receipts: Arc<R>,
    mut outbox: Outbox,
    shutdown: impl Future<Output = ()> + Send,
) where
    H: MoHandler,
    R: ReceiptSink,
{
    let mut waiting: std::collections::HashMap<u64, Waiting> = std::collections::HashMap::new();
    let mut shutdown = std::pin::pin!(shutdown);
    let mut session = Session::new(cfg.session.clone());
    let mut backoff = Backoff::new(cfg.backoff_initial, cfg.backoff_max);
    let (done_tx, mut done_rx) = mpsc::unbounded_channel::<(Mo, Option<String>)>();
    loop {
        let connect =
            tokio::time::timeout(cfg.session.response_timeout, TcpStream::connect(&cfg.addr));
        let stream = tokio::select! {
            r = connect => r,
            () = &mut shutdown => return,
        };
        let ended = match stream {
            Ok(Ok(stream)) => {
                tracing::info!(smsc = %cfg.addr, "SMPP connected");
                let ended = connection(
                    stream,
                    &mut session,
                    &mut backoff,
                    &handler,
                    &receipts,
                    &done_tx,
                    &mut done_rx,
                    &mut outbox,
                    &mut waiting,
                    &mut shutdown,
                )
                .await;
                session.disconnected();
                ended
            }
            Ok(Err(e)) => {
                tracing::warn!(smsc = %cfg.addr, error = %e, "SMPP connect failed");
                Ended::Dropped
            }
            Err(_) => {
                tracing::warn!(smsc = %cfg.addr, "SMPP connect timed out");
                Ended::Dropped
            }
        };
        if let Ended::Shutdown = ended {
            tracing::info!("SMPP session ended");
            return;
        }
        let delay = backoff.next_delay();
        tracing::info!(
            delay_ms = delay.as_millis() as u64,
            "SMPP reconnecting after backoff"
        );
        tokio::select! {
            () = tokio::time::sleep(delay) => {}
            () = &mut shutdown => return,
        }
    }
}

#[allow(clippy::too_many_arguments)]
async fn connection<H: MoHandler, R: ReceiptSink>(
    stream: TcpStream,
    session: &mut Session,
    backoff: &mut Backoff,
    handler: &Arc<H>,
    receipts: &Arc<R>,
    done_tx: &mpsc::UnboundedSender<(Mo, Option<String>)>,
    done_rx: &mut mpsc::UnboundedReceiver<(Mo, Option<String>)>,
    outbox: &mut Outbox,
    waiting: &mut std::collections::HashMap<u64, Waiting>,
    shutdown: &mut std::pin::Pin<&mut (impl Future<Output = ()> + Send)>,
) -> Ended {
    let _ = stream.set_nodelay(true);
    let (mut rd, mut wr) = stream.into_split();
    // A writer task, so a peer that is slow to read never stops us reading.
    let (out_tx, mut out_rx) = mpsc::unbounded_channel::<Vec<u8>>();
    let writer = tokio::spawn(async move {
        while let Some(bytes) = out_rx.recv().await {
            if wr.write_all(&bytes).await.is_err() {
                break;
            }
        }
        let _ = wr.shutdown().await;
    });
    session.connected(Instant::now().into_std());
    let mut buf = vec![0u8; 64 * 1024];
    let mut unbinding = false;
    let ended = 'conn: loop {
        while let Some(ev) = session.poll_event() {
            match ev {
                Event::Bound { smsc } => {
                    tracing::info!(%smsc, "SMPP bound as transceiver");
                    backoff.reset();
                }
                Event::Mo(mo) => {
                    let h = Arc::clone(handler);
                    let tx = done_tx.clone();
                    tokio::spawn(async move {
                        let reply = h.on_mo(&mo.from, &mo.to, &mo.text).await;
                        let _ = tx.send((mo, reply));
                    });
                }
                Event::Receipt(r) => receipts.on_receipt(r),
                Event::Submitted {
                    message_id,
                    to,
                    tag,
                } => {
                    tracing::debug!(%message_id, "SMPP submit accepted");
                    receipts.on_submitted(tag, &message_id, &to);
                    if let Some(t) = tag {
                        part_answered(waiting, t, Ok(message_id));
                    }
                }
                Event::MtFailed { status, tag, .. } => {
                    tracing::warn!(status = format!("{status:#010x}"), "SMPP submit refused");
                    if let Some(t) = tag {
                        part_answered(waiting, t, Err(status));
                    }
                }
                Event::Close { reason } => {
                    tracing::warn!(%reason, "SMPP session closing");
                    break 'conn if unbinding {
                        Ended::Shutdown
                    } else {
                        Ended::Dropped
                    };
                }
            }
        }
        if session.has_output() && out_tx.send(session.take_output()).is_err() {
            break if unbinding {
                Ended::Shutdown
            } else {
                Ended::Dropped
            };
        }
        let deadline = session.poll_timeout(Instant::now().into_std());
        let sleep = async {
            match deadline {
                Some(d) => tokio::time::sleep_until(Instant::from_std(d)).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            r = rd.read(&mut buf) => match r {
                Ok(0) | Err(_) => {
                    tracing::warn!("SMPP connection closed by the SMSC");
                    break if unbinding { Ended::Shutdown } else { Ended::Dropped };
                }
                Ok(n) => session.receive(buf.get(..n).unwrap_or(&[]), Instant::now().into_std()),
            },
            Some((mo, reply)) = done_rx.recv() => {
                session.mo_handled(&mo, reply.as_deref(), Instant::now().into_std());
            }
            Some(sub) = next_submission(outbox), if session.is_bound() && !unbinding => {
                submit(session, waiting, sub);
            }
            () = sleep => session.tick(Instant::now().into_std()),
            () = shutdown.as_mut(), if !unbinding => {
                unbinding = true;
                session.unbind(Instant::now().into_std());
            }
        }
    };
    drop(out_tx);
    let _ = writer.await;
    ended
}

async fn next_submission(outbox: &mut Outbox) -> Option<Submission> {
    match outbox.as_mut() {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

/// Queues one unsolicited MT in the session, unless its sender stopped waiting (then it was
/// never handed over, and the outbox may send it again safely).
fn submit(
    session: &mut Session,
    waiting: &mut std::collections::HashMap<u64, Waiting>,
    sub: Submission,
) {
    if sub.done.is_closed() {
        tracing::info!(
            tag = sub.tag,
            "unsolicited MT dropped: its sender gave up waiting"
        );
        return;
    }
    let now = Instant::now().into_std();
    match session.submit_tagged(&sub.from, &sub.to, &sub.text, Some(sub.tag), now) {
        Ok(parts) => {
            waiting.insert(
                sub.tag,
                Waiting {
                    left: parts,
                    ids: Vec::new(),
                    refused: None,
                    done: sub.done,
                },
            );
        }
        Err(e) => {
            let _ = sub.done.send(SendOutcome::Refused(e.to_string()));
        }
    }
}

/// One part of a tagged MT was answered; when all are, tell its sender.
fn part_answered(
    waiting: &mut std::collections::HashMap<u64, Waiting>,
    tag: u64,
    answer: Result<String, u32>,
) {
    let Some(w) = waiting.get_mut(&tag) else {
        return;
    };
    w.left = w.left.saturating_sub(1);
    match answer {
        Ok(id) => w.ids.push(id),
        Err(status) => w.refused = Some(status),
    }
    if w.left > 0 {
        return;
    }
    if let Some(w) = waiting.remove(&tag) {
        let outcome = match (w.ids.is_empty(), w.refused) {
            (true, Some(status)) => {
                SendOutcome::Refused(format!("the SMSC refused it with status {status:#010x}"))
            }
            _ => SendOutcome::Accepted {
                message_ids: w.ids,
                recorded: true,
            },
        };
        let _ = w.done.send(outcome);
    }
}
