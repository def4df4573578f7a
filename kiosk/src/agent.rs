//! The agent: the tokio shell that connects scanner, state machine, server and screen.
//!
//! One task owns the [`Kiosk`] state machine. It waits for whichever comes first — a scan, a
//! press on the screen, the result of a request it started, the machine's idle deadline — feeds
//! it to the machine, carries out the returned [`Action`]s (each a spawned task that reports back
//! as an [`Event`]), and publishes the new view to the screen.
//!
//! Reports go through the durable [`Queue`] always: a press writes the report to disk first,
//! then tries to deliver it at once; the screen says "filed, case N" or "saved, will be sent".
//! A delivery loop retries what is left every `queue.retry_seconds`, and at once whenever a
//! verify succeeds (the server is back). One delivery runs at a time (a mutex), and the server
//! deduplicates by `report_id`, so a report is never filed twice. A report under a verdict
//! carries that verdict's `event_id`, so the server files it against the shopper's query instead
//! of counting the code a second time.

use std::sync::Arc;
use std::time::Instant;

use serde_json::{json, Value};
use tokio::sync::{mpsc, watch, Mutex, Notify};

use crate::client::{Client, RequestError};
use crate::config::Config;
use crate::queue::{PendingReport, Queue, QueueError};
use crate::scan::Decoded;
use crate::screen::{Action, Event, Kiosk, ReportOutcome};
use crate::ui::Press;

/// What became of one delivery attempt.
#[derive(Debug)]
enum Delivery {
    Filed {
        case_id: i64,
        replayed: bool,
    },
    /// Try again later (server unreachable, or refusing this kiosk for now).
    Later(String),
    /// The server will never accept it (e.g. not a code): removed from the queue.
    Refused(String),
}

/// Everything the request tasks share.
#[derive(Clone)]
pub struct Services {
    pub client: Client,
    pub queue: Queue,
    pub language: String,
    /// Serialises deliveries.
    delivering: Arc<Mutex<()>>,
    /// Wakes the delivery loop (the server answered again).
    wake: Arc<Notify>,
}

impl Services {
    pub fn new(client: Client, queue: Queue, language: String) -> Services {
        Services {
            client,
            queue,
            language,
            delivering: Arc::new(Mutex::new(())),
            wake: Arc::new(Notify::new()),
        }
    }

    async fn deliver(&self, r: &PendingReport) -> Delivery {
        let mut body = json!({
            "code": r.code,
            "lang": r.lang,
            "report_id": r.report_id,
            "channel": "kiosk",
        });
        if let Some(event_id) = r.event_id {
            body["event_id"] = json!(event_id);
        }
        match self.client.post_json("/v1/report", &body).await {
            Ok(v) => match v.get("case_id").and_then(Value::as_i64) {
                Some(case_id) => Delivery::Filed {
                    case_id,
                    replayed: v.get("replayed").and_then(Value::as_bool).unwrap_or(false),
                },
                None => Delivery::Later("the answer has no case_id".into()),
            },
            Err(RequestError::Unreachable(e)) => Delivery::Later(e),
            // A revoked or not-yet-issued certificate may be fixed; keep the report.
            Err(
                e @ RequestError::Refused {
                    status: 403 | 429, ..
                },
            ) => Delivery::Later(e.to_string()),
            Err(
                e @ RequestError::Refused {
                    status: 400..=499, ..
                },
            ) => Delivery::Refused(e.to_string()),
            Err(e) => Delivery::Later(e.to_string()),
        }
    }

    /// Delivers one report and removes it from the queue once the server has answered.
    async fn deliver_and_settle(&self, r: &PendingReport) -> Delivery {
        let _one_at_a_time = self.delivering.lock().await;
        // Already delivered by the loop while we waited for the lock?
        if let Ok(pending) = self.blocking(|q| q.pending()).await {
            if !pending.iter().any(|p| p.report_id == r.report_id) {
                return Delivery::Later("already delivered".into());
            }
        }
        let d = self.deliver(r).await;
        match &d {
            Delivery::Filed { case_id, replayed } => {
                tracing::info!(report_id = %r.report_id, case_id, replayed, "report delivered: case {case_id}");
            }
            Delivery::Refused(why) => {
                tracing::warn!(report_id = %r.report_id, reason = %why, "report refused by the server; dropped");
            }
            Delivery::Later(why) => {
                tracing::info!(report_id = %r.report_id, reason = %why, "report kept in the queue");
                return d;
            }
        }
        let r2 = r.clone();
        if let Err(e) = self.blocking(move |q| q.remove(&r2)).await {
            tracing::error!(error = %e, "cannot remove a delivered report from the queue");
        }
        d
    }

    /// Runs a queue operation on the blocking pool.
    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Queue) -> Result<T, QueueError> + Send + 'static,
    ) -> Result<T, QueueError> {
        let q = self.queue.clone();
        match tokio::task::spawn_blocking(move || f(&q)).await {
            Ok(r) => r,
            Err(e) => Err(QueueError::Io {
                path: self.queue.dir().to_owned(),
                source: std::io::Error::other(e.to_string()),
            }),
        }
    }

    /// One pass over the queue, oldest first; stops at the first report the server cannot take
    /// now.
    pub async fn deliver_pending(&self) {
        let pending = match self.blocking(|q| q.pending()).await {
            Ok(p) => p,
            Err(e) => {
                tracing::error!(error = %e, "cannot read the report queue");
                return;
            }
        };
        for r in pending {
            if let Delivery::Later(_) = self.deliver_and_settle(&r).await {
                return;
            }
        }
    }

    /// Delivers queued reports forever: every `every`, and when woken.
    pub async fn delivery_loop(self, every: std::time::Duration) {
        loop {
            self.deliver_pending().await;
            tokio::select! {
                () = tokio::time::sleep(every) => {}
                () = self.wake.notified() => {}
            }
        }
    }

    async fn verify(&self, text: &str) -> Result<Value, RequestError> {
        let v = self
            .client
            .post_json(
                "/v1/verify",
                &json!({ "code": text, "lang": self.language, "channel": "kiosk" }),
            )
            .await;
        if v.is_ok() {
            self.wake.notify_one();
        }
        v
    }

    async fn report(&self, text: &str, event_id: Option<i64>) -> ReportOutcome {
        let (code, lang) = (text.to_owned(), self.language.clone());
        let r = match self.blocking(move |q| q.add(&code, &lang, event_id)).await {
            Ok(r) => r,
            Err(e) => {
                tracing::error!(error = %e, "cannot save a report");
                return ReportOutcome::Refused {
                    message: "the report could not be saved".into(),
                };
            }
        };
        tracing::info!(report_id = %r.report_id, "report saved");
        match self.deliver_and_settle(&r).await {
            Delivery::Filed { case_id, .. } => ReportOutcome::Filed { case_id },
            Delivery::Later(_) => ReportOutcome::Queued,
            Delivery::Refused(message) => ReportOutcome::Refused { message },
        }
    }
}

/// Why a verify did not give a verdict, in a line for the screen's small print and the log.
fn unreachable_reason(e: &RequestError) -> String {
    match e {
        RequestError::Unreachable(why) => why.clone(),
        other => other.to_string(),
    }
}

/// Runs the state machine until the scanner and the screen are both gone.
pub async fn run(
    config: &Config,
    services: Services,
    mut scans: mpsc::Receiver<Decoded>,
    mut presses: mpsc::Receiver<Press>,
    views: watch::Sender<crate::screen::View>,
) {
    let mut kiosk = Kiosk::new(config.idle);
    let (events_tx, mut events) = mpsc::channel::<Event>(32);
    let mut scans_open = true;
    loop {
        let deadline = kiosk.deadline();
        let event = tokio::select! {
            scan = scans.recv(), if scans_open => match scan {
                Some(Ok(s)) => {
                    tracing::info!(symbology = s.symbology(), len = s.text.len(), "scan");
                    Event::Scanned { text: s.text }
                }
                Some(Err(_)) => Event::Unreadable,
                None => {
                    scans_open = false;
                    continue;
                }
            },
            press = presses.recv() => match press {
                Some(Press::Report { scan }) => Event::ReportPressed { scan },
                None => return,
            },
            Some(e) = events.recv() => e,
            () = sleep_until(deadline) => Event::Tick,
        };
        for action in kiosk.handle(event, Instant::now()) {
            let (services, tx) = (services.clone(), events_tx.clone());
            match action {
                Action::Verify { scan, text } => {
                    tokio::spawn(async move {
                        let e = match services.verify(&text).await {
                            Ok(verdict) => Event::Answered { scan, verdict },
                            Err(err) => {
                                tracing::warn!(error = %err, "verify failed");
                                Event::Unreachable {
                                    scan,
                                    reason: unreachable_reason(&err),
                                }
                            }
                        };
                        let _ = tx.send(e).await;
                    });
                }
                Action::Report {
                    scan,
                    text,
                    event_id,
                } => {
                    tokio::spawn(async move {
                        let outcome = services.report(&text, event_id).await;
                        let _ = tx.send(Event::Reported { scan, outcome }).await;
                    });
                }
            }
        }
        views.send_if_modified(|v| {
            let new = kiosk.view();
            if *v == new {
                false
            } else {
                *v = new;
                true
            }
        });
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(tokio::time::Instant::from_std(d)).await,
        None => std::future::pending().await,
    }
}
