//! What the kiosk screen shows, and what the agent must do next. Sans-I/O.
//!
//! The kiosk is one state machine, [`Kiosk`]. It takes [`Event`]s — a scan, the server's
//! answer, the server being unreachable, the "report" button, the outcome of a report, the
//! passing of time — and returns [`Action`]s for the shell to carry out (ask the server, file a
//! report). After every event the shell pushes [`Kiosk::view`] to the screen.
//!
//! The rules it enforces:
//!
//! * **A new scan replaces what is shown at once**, whatever it was; an answer to an older scan
//!   that arrives later is ignored (each scan has its own [`ScanId`]).
//! * "Report this product" is offered on **warning** (amber) and **suspect** (red) verdicts and on
//!   the **offline** screen, once per scan; pressing it twice files one report. A report under a
//!   verdict names that verdict's query event, so the server does not count the code again.
//! * Every screen but idle **returns to idle** after the idle timeout, counted from the last
//!   thing that happened on it (an answer, a press of the button, a report's outcome).

use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::Value;

/// Identifies one scan: answers and report outcomes name the scan they belong to.
pub type ScanId = u64;

/// Something that happened.
#[derive(Clone, Debug)]
pub enum Event {
    /// The scanner read a code.
    Scanned { text: String },
    /// The scanner read something unusable (e.g. too long).
    Unreadable,
    /// The server answered a verify request.
    Answered { scan: ScanId, verdict: Value },
    /// The server could not be reached (after retries) or refused the kiosk.
    Unreachable { scan: ScanId, reason: String },
    /// The shopper pressed "Report this product" on the screen showing `scan`.
    ReportPressed { scan: ScanId },
    /// The outcome of a report.
    Reported {
        scan: ScanId,
        outcome: ReportOutcome,
    },
    /// Time passed (the shell calls this at [`Kiosk::deadline`]).
    Tick,
}

/// What became of a report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReportOutcome {
    /// The server opened or updated this case.
    Filed { case_id: i64 },
    /// Saved on disk; it will be delivered when the server is back.
    Queued,
    /// The server refused it for good (e.g. not a code that can be reported).
    Refused { message: String },
}

/// Work for the shell.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Ask the server about `text`; answer with [`Event::Answered`] or [`Event::Unreachable`].
    Verify { scan: ScanId, text: String },
    /// File (durably) a report of `text`; answer with [`Event::Reported`]. `event_id` is the
    /// query event of the verdict on screen (its `event_id`), so the server files the report
    /// against that query instead of recording another; `None` on the offline screen.
    Report {
        scan: ScanId,
        text: String,
        event_id: Option<i64>,
    },
}

/// How a verdict looks: its colour.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Tone {
    /// Green: genuine (a repeat query with its first time and place is still green).
    Genuine,
    /// Amber: genuine with a warning (recall, failed spot check, invalid certificate, expired…).
    Warning,
    /// Red: suspected counterfeit.
    Suspect,
    /// Blue: code not found.
    Unknown,
    /// Grey: not a code.
    Invalid,
}

impl Tone {
    /// The tone of a verdict (`authenticity` and `warnings` as the server sends them).
    pub fn of(verdict: &Value) -> Tone {
        match verdict.get("authenticity").and_then(Value::as_str) {
            Some("genuine") => {
                let serious = verdict
                    .get("warnings")
                    .and_then(Value::as_array)
                    .is_some_and(|ws| ws.iter().any(|w| w.as_str() != Some("repeat_query")));
                if serious {
                    Tone::Warning
                } else {
                    Tone::Genuine
                }
            }
            Some("suspect") => Tone::Suspect,
            Some("unknown") => Tone::Unknown,
            _ => Tone::Invalid,
        }
    }
}

/// The report part of a screen.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum ReportView {
    /// The button is not offered on this screen.
    None,
    /// The button is offered.
    Offered,
    Sending,
    Filed {
        case_id: i64,
    },
    Queued,
    Refused {
        message: String,
    },
}

/// One screen, as the browser draws it (sent as JSON).
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "screen", rename_all = "snake_case")]
pub enum Screen {
    Idle,
    Checking {
        scan: ScanId,
    },
    Verdict {
        scan: ScanId,
        tone: Tone,
        verdict: Value,
        report: ReportView,
    },
    Offline {
        scan: ScanId,
        reason: String,
        report: ReportView,
    },
    /// The scanner read something that cannot be a code.
    Unreadable,
}

/// What the screen shows now, numbered so the browser can tell a new view from a repeat.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct View {
    /// Increases with every change.
    pub version: u64,
    #[serde(flatten)]
    pub screen: Screen,
}

/// The kiosk state machine.
#[derive(Debug)]
pub struct Kiosk {
    idle_after: Duration,
    next_scan: ScanId,
    /// The text of the scan on screen (to report it).
    text: String,
    screen: Screen,
    version: u64,
    idle_at: Option<Instant>,
}

impl Kiosk {
    /// A kiosk showing the idle screen, returning to it `idle_after` after the last activity.
    pub fn new(idle_after: Duration) -> Kiosk {
        Kiosk {
            idle_after,
            next_scan: 1,
            text: String::new(),
            screen: Screen::Idle,
            version: 1,
            idle_at: None,
        }
    }

    /// The current view.
    pub fn view(&self) -> View {
        View {
            version: self.version,
            screen: self.screen.clone(),
        }
    }

    /// When the shell should send [`Event::Tick`] (`None`: no timer needed).
    pub fn deadline(&self) -> Option<Instant> {
        self.idle_at
    }

    fn show(&mut self, screen: Screen, now: Instant) {
        self.idle_at = match screen {
            Screen::Idle | Screen::Checking { .. } => None,
            _ => Some(now + self.idle_after),
        };
        self.screen = screen;
        self.version += 1;
    }

    /// The scan on screen, if the screen belongs to one.
    fn current_scan(&self) -> Option<ScanId> {
        match self.screen {
            Screen::Checking { scan }
            | Screen::Verdict { scan, .. }
            | Screen::Offline { scan, .. } => Some(scan),
            Screen::Idle | Screen::Unreadable => None,
        }
    }

    fn report_mut(&mut self) -> Option<&mut ReportView> {
        match &mut self.screen {
            Screen::Verdict { report, .. } | Screen::Offline { report, .. } => Some(report),
            _ => None,
        }
    }

    /// Handles one event at time `now`; returns what the shell must do.
    pub fn handle(&mut self, event: Event, now: Instant) -> Vec<Action> {
        match event {
            Event::Scanned { text } => {
                let scan = self.next_scan;
                self.next_scan += 1;
                self.text.clone_from(&text);
                self.show(Screen::Checking { scan }, now);
                vec![Action::Verify { scan, text }]
            }
            Event::Unreadable => {
                self.show(Screen::Unreadable, now);
                vec![]
            }
            Event::Answered { scan, verdict } => {
                if self.current_scan() == Some(scan)
                    && matches!(self.screen, Screen::Checking { .. })
                {
                    let tone = Tone::of(&verdict);
                    let report = if matches!(tone, Tone::Warning | Tone::Suspect) {
                        ReportView::Offered
                    } else {
                        ReportView::None
                    };
                    self.show(
                        Screen::Verdict {
                            scan,
                            tone,
                            verdict,
                            report,
                        },
                        now,
                    );
                }
                vec![]
            }
            Event::Unreachable { scan, reason } => {
                if self.current_scan() == Some(scan)
                    && matches!(self.screen, Screen::Checking { .. })
                {
                    self.show(
                        Screen::Offline {
                            scan,
                            reason,
                            report: ReportView::Offered,
                        },
                        now,
                    );
                }
                vec![]
            }
            Event::ReportPressed { scan } => {
                if self.current_scan() != Some(scan) {
                    return vec![];
                }
                let offered = self.report_mut().is_some_and(|r| *r == ReportView::Offered);
                if !offered {
                    return vec![];
                }
                if let Some(r) = self.report_mut() {
                    *r = ReportView::Sending;
                }
                let event_id = match &self.screen {
                    Screen::Verdict { verdict, .. } => {
                        verdict.get("event_id").and_then(Value::as_i64)
                    }
                    _ => None,
                };
                let screen = self.screen.clone();
                self.show(screen, now);
                vec![Action::Report {
                    scan,
                    text: self.text.clone(),
                    event_id,
                }]
            }
            Event::Reported { scan, outcome } => {
                if self.current_scan() != Some(scan) {
                    return vec![];
                }
                if let Some(r) = self.report_mut() {
                    *r = match outcome {
                        ReportOutcome::Filed { case_id } => ReportView::Filed { case_id },
                        ReportOutcome::Queued => ReportView::Queued,
                        ReportOutcome::Refused { message } => ReportView::Refused { message },
                    };
                    let screen = self.screen.clone();
                    self.show(screen, now);
                }
                vec![]
            }
            Event::Tick => {
                if self.idle_at.is_some_and(|t| now >= t) {
                    self.show(Screen::Idle, now);
                }
                vec![]
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const IDLE: Duration = Duration::from_secs(30);

    fn scan(k: &mut Kiosk, text: &str, now: Instant) -> ScanId {
        let actions = k.handle(Event::Scanned { text: text.into() }, now);
        match actions.as_slice() {
            [Action::Verify { scan, text: t }] if t == text => *scan,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn tones() {
        for (v, tone) in [
            (
                json!({"authenticity": "genuine", "warnings": []}),
                Tone::Genuine,
            ),
            (
                json!({"authenticity": "genuine", "warnings": ["repeat_query"]}),
                Tone::Genuine,
            ),
            (
                json!({"authenticity": "genuine", "warnings": ["repeat_query", "recalled"]}),
                Tone::Warning,
            ),
            (json!({"authenticity": "suspect"}), Tone::Suspect),
            (json!({"authenticity": "unknown"}), Tone::Unknown),
            (json!({"authenticity": "not_a_code"}), Tone::Invalid),
            (json!("garbage"), Tone::Invalid),
        ] {
            assert_eq!(Tone::of(&v), tone, "{v}");
        }
    }

    #[test]
    fn scan_answer_report_filed_then_idle() {
        let t0 = Instant::now();
        let mut k = Kiosk::new(IDLE);
        assert_eq!(k.view().screen, Screen::Idle);
        assert_eq!(k.deadline(), None);
        let s = scan(&mut k, "CODE", t0);
        assert_eq!(k.view().screen, Screen::Checking { scan: s });
        assert_eq!(k.deadline(), None, "no idle timeout while checking");

        let verdict =
            json!({"authenticity": "suspect", "warnings": ["not_activated"], "event_id": 7});
        k.handle(
            Event::Answered {
                scan: s,
                verdict: verdict.clone(),
            },
            t0,
        );
        let v = k.view();
        assert!(matches!(
            &v.screen,
            Screen::Verdict {
                tone: Tone::Suspect,
                report: ReportView::Offered,
                ..
            }
        ));
        assert_eq!(k.deadline(), Some(t0 + IDLE));

        // Pressing twice files one report.
        let t1 = t0 + Duration::from_secs(5);
        assert_eq!(
            k.handle(Event::ReportPressed { scan: s }, t1),
            vec![Action::Report {
                scan: s,
                text: "CODE".into(),
                event_id: Some(7),
            }]
        );
        assert!(k.handle(Event::ReportPressed { scan: s }, t1).is_empty());
        assert_eq!(
            k.deadline(),
            Some(t1 + IDLE),
            "activity restarts the timeout"
        );
        k.handle(
            Event::Reported {
                scan: s,
                outcome: ReportOutcome::Filed { case_id: 42 },
            },
            t1,
        );
        assert!(matches!(
            &k.view().screen,
            Screen::Verdict {
                report: ReportView::Filed { case_id: 42 },
                ..
            }
        ));

        k.handle(Event::Tick, t1 + IDLE - Duration::from_millis(1));
        assert!(matches!(k.view().screen, Screen::Verdict { .. }));
        let before = k.view().version;
        k.handle(Event::Tick, t1 + IDLE);
        assert_eq!(k.view().screen, Screen::Idle);
        assert!(k.view().version > before);
        assert_eq!(k.deadline(), None);
    }

    #[test]
    fn genuine_offers_no_report() {
        let t0 = Instant::now();
        let mut k = Kiosk::new(IDLE);
        let s = scan(&mut k, "G", t0);
        k.handle(
            Event::Answered {
                scan: s,
                verdict: json!({"authenticity": "genuine", "warnings": ["repeat_query"]}),
            },
            t0,
        );
        assert!(matches!(
            &k.view().screen,
            Screen::Verdict {
                tone: Tone::Genuine,
                report: ReportView::None,
                ..
            }
        ));
        assert!(k.handle(Event::ReportPressed { scan: s }, t0).is_empty());
    }

    #[test]
    fn a_report_names_the_query_event_of_the_verdict_on_screen() {
        let t0 = Instant::now();
        let mut k = Kiosk::new(IDLE);
        let answer = |k: &mut Kiosk, scan: ScanId, verdict: Value| {
            k.handle(Event::Answered { scan, verdict }, t0);
        };
        let a = scan(&mut k, "A", t0);
        answer(
            &mut k,
            a,
            json!({"authenticity": "suspect", "warnings": [], "event_id": 101}),
        );
        let b = scan(&mut k, "B", t0);
        answer(
            &mut k,
            b,
            json!({"authenticity": "genuine", "warnings": ["recalled"], "event_id": 102}),
        );
        assert_eq!(
            k.handle(Event::ReportPressed { scan: b }, t0),
            vec![Action::Report {
                scan: b,
                text: "B".into(),
                event_id: Some(102),
            }]
        );
        // A verdict without an event id (or with one that is not an integer) reports without.
        for verdict in [
            json!({"authenticity": "suspect"}),
            json!({"authenticity": "suspect", "event_id": "103"}),
        ] {
            let c = scan(&mut k, "C", t0);
            answer(&mut k, c, verdict);
            assert_eq!(
                k.handle(Event::ReportPressed { scan: c }, t0),
                vec![Action::Report {
                    scan: c,
                    text: "C".into(),
                    event_id: None,
                }]
            );
        }
    }

    #[test]
    fn a_new_scan_replaces_the_screen_and_stale_answers_are_ignored() {
        let t0 = Instant::now();
        let mut k = Kiosk::new(IDLE);
        let first = scan(&mut k, "A", t0);
        let second = scan(&mut k, "B", t0);
        assert_ne!(first, second);
        k.handle(
            Event::Answered {
                scan: first,
                verdict: json!({"authenticity": "genuine"}),
            },
            t0,
        );
        k.handle(
            Event::Unreachable {
                scan: first,
                reason: "x".into(),
            },
            t0,
        );
        assert_eq!(k.view().screen, Screen::Checking { scan: second });
        // A press on an older screen does nothing.
        assert!(k
            .handle(Event::ReportPressed { scan: first }, t0)
            .is_empty());
        // A verdict on screen is replaced at once by the next scan.
        k.handle(
            Event::Answered {
                scan: second,
                verdict: json!({"authenticity": "suspect"}),
            },
            t0,
        );
        let third = scan(&mut k, "C", t0);
        assert_eq!(k.view().screen, Screen::Checking { scan: third });
        // A late report outcome of an older scan changes nothing.
        let v = k.view();
        k.handle(
            Event::Reported {
                scan: second,
                outcome: ReportOutcome::Queued,
            },
            t0,
        );
        assert_eq!(k.view(), v);
    }

    #[test]
    fn offline_offers_a_queued_report() {
        let t0 = Instant::now();
        let mut k = Kiosk::new(IDLE);
        let s = scan(&mut k, "X", t0);
        k.handle(
            Event::Unreachable {
                scan: s,
                reason: "connection refused".into(),
            },
            t0,
        );
        assert!(matches!(
            &k.view().screen,
            Screen::Offline {
                report: ReportView::Offered,
                ..
            }
        ));
        assert_eq!(
            k.handle(Event::ReportPressed { scan: s }, t0),
            vec![Action::Report {
                scan: s,
                text: "X".into(),
                event_id: None,
            }]
        );
        k.handle(
            Event::Reported {
                scan: s,
                outcome: ReportOutcome::Queued,
            },
            t0,
        );
        assert!(matches!(
            &k.view().screen,
            Screen::Offline {
                report: ReportView::Queued,
                ..
            }
        ));
        let json = serde_json::to_value(k.view()).unwrap();
        assert_eq!(json["screen"], "offline");
        assert_eq!(json["report"]["state"], "queued");
        assert_eq!(json["reason"], "connection refused");
    }

    #[test]
    fn unreadable_scans_show_and_time_out() {
        let t0 = Instant::now();
        let mut k = Kiosk::new(IDLE);
        k.handle(Event::Unreadable, t0);
        assert_eq!(k.view().screen, Screen::Unreadable);
        k.handle(Event::Tick, t0 + IDLE);
        assert_eq!(k.view().screen, Screen::Idle);
    }
}
