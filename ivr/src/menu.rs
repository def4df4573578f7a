//! The voice menu: one call's dialogue, as a state machine without I/O.
//!
//! ```text
//!  Language ──1/2/timeout──▶ EnterCode ──#/timeout with digits──▶ ReadBack ──1──▶ Verifying
//!     (中文 1, English 2,     ("enter the code,                 ("you entered   (the core
//!      中文 after 5 s)         then #"; * clears)                …; 1 confirm,    decides)
//!                                ▲                                2 re-enter")      │
//!                                └────────────2──────────────────────┘              │
//!                                └──── unknown code: "please check and enter again" ┤
//!                                                                                   ▼
//!  Closing (goodbye, then BYE — or "transferring", then REFER) ◀──9 report──── Verdict
//!                                                  ◀──0 agent──── (the verdict, then
//!                                                                  "9 report, 0 agent,
//!                                                                   * repeat")
//! ```
//!
//! [`Menu::handle`] takes an [`Event`] — a key, the end of a prompt, a timer, the verdict — and
//! returns [`Action`]s for the call to carry out: play these utterances, stop playing (a key
//! press interrupts a prompt: barge-in), start a timer, ask the core to verify or report, transfer
//! to an agent, hang up. Prompts and timers carry ids, so a late event for a prompt that was
//! interrupted or a timer that was replaced is ignored. Inputs are bounded: each step allows
//! [`MenuConfig::retries`] retries (no key within the timeout, or a wrong key) and then says
//! goodbye; a code is at most [`MenuConfig::max_code_digits`] digits.
//!
//! ## Type-ahead
//!
//! Callers who know the menu do not wait for it: they press 1 to confirm and then 9 (report) at
//! once, while the core is still checking the code. What a key means while the menu waits for
//! the core:
//!
//! * **Verifying** (after 1 confirmed the code, during "please wait"): the key is kept, up to
//!   [`MenuConfig::type_ahead_digits`] keys (more are dropped), and "please wait" plays on. When
//!   the verdict leads to the verdict menu, the kept keys are applied in order as if pressed
//!   during the verdict prompt: barge-in, so the verdict is not played at all — 9 reports, 0
//!   asks for an agent, * plays the verdict (its repeat), any other key is a wrong key and
//!   counts as a retry. Each key acts on the menu the previous one left, exactly as live keys
//!   would. When the core gives no verdict menu — the code is sent back for re-entry (not a
//!   code, a barcode, check and enter again), the caller is rate-limited, the core failed or
//!   timed out — the kept keys are dropped: they were meant for the verdict menu, and must not
//!   become the first digits of a new code or cut short why the call ends.
//! * **Reporting** (after 9): keys are ignored. The only thing that follows a report is its
//!   closing message ("received, your case number is …, goodbye"), and the closing message is
//!   not interruptible, so the caller hears the case number.
//! * **Closing** (goodbye, transferring): keys are ignored.

use std::time::Duration;

use zhenwei_core::verdict::Authenticity;
use zhenwei_core::{Lang, Verdict};

use crate::dtmf::Digit;
use crate::prompts::speech;
use crate::prompts::{PromptId, Say, Utterance};

/// A playback, to match [`Event::PromptFinished`] with the [`Action::Play`] it ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PlayId(pub u64);

/// A timer, to match [`Event::TimerFired`] with the [`Action::StartTimer`] that set it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TimerId(pub u64);

/// The menu's settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MenuConfig {
    /// Where 0 transfers the caller (a SIP URI); `None`: an opening-hours message instead.
    pub agent_uri: Option<String>,
    /// How long to wait for the first or next key.
    pub input_timeout: Duration,
    /// How long the language menu waits before choosing 中文.
    pub language_timeout: Duration,
    /// Retries per step before goodbye.
    pub retries: u32,
    /// How long to wait for the core.
    pub verify_timeout: Duration,
    pub max_code_digits: usize,
    /// Keys kept while the core checks a code, applied to the verdict menu (type-ahead).
    pub type_ahead_digits: usize,
}

impl Default for MenuConfig {
    fn default() -> Self {
        MenuConfig {
            agent_uri: None,
            input_timeout: Duration::from_secs(5),
            language_timeout: Duration::from_secs(5),
            retries: 3,
            verify_timeout: Duration::from_secs(15),
            max_code_digits: 32,
            type_ahead_digits: 4,
        }
    }
}

/// Why the core gave no verdict.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Failure {
    /// This caller has made too many queries.
    RateLimited,
    /// The core failed or is shutting down.
    Unavailable,
}

/// What happens to the menu.
#[derive(Clone, Debug)]
pub enum Event {
    /// The call is answered and media flows.
    Start,
    Digit(Digit),
    PromptFinished(PlayId),
    TimerFired(TimerId),
    VerdictReady(Box<Verdict>),
    VerifyFailed(Failure),
    /// The report was recorded; the case number.
    ReportDone(Option<i64>),
    ReportFailed,
}

/// What the call must do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Play these utterances, replacing anything playing; report the end with this id.
    Play { id: PlayId, items: Vec<Utterance> },
    /// Stop playing now (barge-in).
    StopPlayback,
    /// Start a timer, replacing any running one.
    StartTimer { id: TimerId, after: Duration },
    /// Ask the core for a verdict (`Channel::Ivr`, the caller as source).
    Verify { code: String, lang: Lang },
    /// Report a suspected fake: the core opens or updates the code's consumer-report case with
    /// the query whose verdict the caller heard (`event_id`, the verdict's) as evidence — the
    /// report records no second query.
    Report {
        code: String,
        lang: Lang,
        event_id: i64,
    },
    /// Transfer the caller (SIP REFER).
    Transfer { uri: String },
    /// End the call (SIP BYE).
    Hangup,
}

/// What a closing prompt leads to.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Then {
    Hangup,
    Transfer(String),
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum State {
    Idle,
    Language,
    EnterCode {
        digits: String,
    },
    ReadBack {
        code: String,
    },
    Verifying {
        code: String,
        /// Keys pressed while the core checks the code (type-ahead), oldest first.
        typed_ahead: Vec<Digit>,
    },
    Verdict {
        code: String,
        spoken: Vec<Utterance>,
        /// The query event of the verdict (what 9 reports).
        event_id: i64,
    },
    Reporting,
    Closing(Then),
    Done,
}

/// The menu of one call.
#[derive(Debug)]
pub struct Menu {
    config: MenuConfig,
    state: State,
    lang: Lang,
    failures: u32,
    /// Codes the core sent back for re-entry (not a code, not found, a barcode).
    rejected_codes: u32,
    playing: Option<PlayId>,
    timer: Option<TimerId>,
    next_id: u64,
}

impl Menu {
    pub fn new(config: MenuConfig) -> Menu {
        Menu {
            config,
            state: State::Idle,
            lang: Lang::Zh,
            failures: 0,
            rejected_codes: 0,
            playing: None,
            timer: None,
            next_id: 0,
        }
    }

    /// The caller's language (中文 until they choose).
    pub fn lang(&self) -> Lang {
        self.lang
    }

    /// Has the menu finished (hung up or transferred)?
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    fn id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    fn p(&self, id: PromptId) -> Utterance {
        Utterance::prompt(self.lang, id)
    }

    fn play(&mut self, items: Vec<Utterance>, out: &mut Vec<Action>) {
        let id = PlayId(self.id());
        self.playing = Some(id);
        self.timer = None;
        out.push(Action::Play { id, items });
    }

    fn start_timer(&mut self, after: Duration, out: &mut Vec<Action>) {
        let id = TimerId(self.id());
        self.timer = Some(id);
        out.push(Action::StartTimer { id, after });
    }

    fn enter(&mut self, state: State) {
        if std::mem::discriminant(&state) != std::mem::discriminant(&self.state) {
            self.failures = 0;
        }
        self.state = state;
    }

    /// The prompt that asks for input in the current state.
    fn question(&self) -> Vec<Utterance> {
        match &self.state {
            State::Language => vec![
                Utterance::prompt(Lang::Zh, PromptId::LanguageMenu),
                Utterance::prompt(Lang::En, PromptId::LanguageMenu),
            ],
            State::EnterCode { .. } => vec![self.p(PromptId::EnterCode)],
            State::ReadBack { code } => vec![
                self.p(PromptId::YouEntered),
                Utterance::new(self.lang, Say::Digits(code.clone())),
                Utterance::new(self.lang, Say::Pause { ms: 300 }),
                self.p(PromptId::ConfirmMenu),
            ],
            State::Verdict { .. } => vec![self.p(PromptId::VerdictMenu)],
            _ => Vec::new(),
        }
    }

    /// A wrong key or no key: say why and ask again, or give up.
    fn retry(&mut self, why: Option<PromptId>, out: &mut Vec<Action>) {
        self.failures += 1;
        if self.failures > self.config.retries {
            self.close(Vec::new(), Then::Hangup, out);
            return;
        }
        let mut items: Vec<Utterance> = why.map(|w| self.p(w)).into_iter().collect();
        items.extend(self.question());
        self.play(items, out);
    }

    fn close(&mut self, mut items: Vec<Utterance>, then: Then, out: &mut Vec<Action>) {
        if then == Then::Hangup {
            items.push(self.p(PromptId::Goodbye));
        }
        self.state = State::Closing(then);
        self.play(items, out);
    }

    fn ask_code(&mut self, prefix: Vec<Utterance>, out: &mut Vec<Action>) {
        self.enter(State::EnterCode {
            digits: String::new(),
        });
        let mut items = prefix;
        items.extend(self.question());
        self.play(items, out);
    }

    fn read_back(&mut self, code: String, out: &mut Vec<Action>) {
        self.enter(State::ReadBack { code });
        let items = self.question();
        self.play(items, out);
    }

    /// Handles one event.
    pub fn handle(&mut self, event: Event) -> Vec<Action> {
        let mut out = Vec::new();
        match event {
            Event::Start => {
                if self.state == State::Idle {
                    self.enter(State::Language);
                    let items = self.question();
                    self.play(items, &mut out);
                }
            }
            Event::Digit(d) => self.on_digit(d, &mut out),
            Event::PromptFinished(id) => {
                if self.playing == Some(id) {
                    self.playing = None;
                    self.on_prompt_finished(&mut out);
                }
            }
            Event::TimerFired(id) => {
                if self.timer == Some(id) {
                    self.timer = None;
                    self.on_timeout(&mut out);
                }
            }
            Event::VerdictReady(v) => {
                if let State::Verifying { code, typed_ahead } = &mut self.state {
                    let code = std::mem::take(code);
                    let typed_ahead = std::mem::take(typed_ahead);
                    self.on_verdict(code, &v, typed_ahead, &mut out);
                }
            }
            Event::VerifyFailed(f) => {
                if matches!(self.state, State::Verifying { .. }) {
                    self.fail(f, &mut out);
                }
            }
            Event::ReportDone(case) => {
                if self.state == State::Reporting {
                    let mut items = vec![self.p(PromptId::ReportReceived)];
                    if let Some(id) = case {
                        items.push(self.p(PromptId::CaseNumber));
                        items.push(Utterance::new(self.lang, Say::Digits(id.to_string())));
                    }
                    self.close(items, Then::Hangup, &mut out);
                }
            }
            Event::ReportFailed => {
                if self.state == State::Reporting {
                    self.fail(Failure::Unavailable, &mut out);
                }
            }
        }
        out
    }

    fn fail(&mut self, f: Failure, out: &mut Vec<Action>) {
        let why = match f {
            Failure::RateLimited => PromptId::RateLimited,
            Failure::Unavailable => PromptId::ServiceUnavailable,
        };
        let items = vec![self.p(why)];
        self.close(items, Then::Hangup, out);
    }

    fn on_digit(&mut self, d: Digit, out: &mut Vec<Action>) {
        if let State::Verifying { typed_ahead, .. } = &mut self.state {
            // Type-ahead: kept for the verdict menu; "please wait" plays on.
            if typed_ahead.len() < self.config.type_ahead_digits {
                typed_ahead.push(d);
            }
            return;
        }
        let interruptible = matches!(
            self.state,
            State::Language
                | State::EnterCode { .. }
                | State::ReadBack { .. }
                | State::Verdict { .. }
        );
        if !interruptible {
            return;
        }
        if self.playing.take().is_some() {
            out.push(Action::StopPlayback);
        }
        self.timer = None;
        match (&mut self.state, d) {
            (State::Language, Digit::D1 | Digit::D2) => {
                self.lang = if d == Digit::D2 { Lang::En } else { Lang::Zh };
                self.ask_code(Vec::new(), out);
            }
            (State::Language, _) => self.retry(Some(PromptId::InvalidKey), out),
            (State::EnterCode { digits }, Digit::Hash) => {
                if digits.is_empty() {
                    self.retry(Some(PromptId::InvalidKey), out);
                } else {
                    let code = std::mem::take(digits);
                    self.read_back(code, out);
                }
            }
            (State::EnterCode { .. }, Digit::Star) => {
                // Start the code again (not a failure).
                self.state = State::EnterCode {
                    digits: String::new(),
                };
                let items = self.question();
                self.play(items, out);
            }
            (State::EnterCode { digits }, d) => {
                if let Some(n) = d.decimal() {
                    if digits.len() >= self.config.max_code_digits {
                        self.state = State::EnterCode {
                            digits: String::new(),
                        };
                        self.retry(Some(PromptId::NotACode), out);
                        return;
                    }
                    digits.push(char::from(b'0' + n));
                }
                let after = self.config.input_timeout;
                self.start_timer(after, out);
            }
            (State::ReadBack { code }, Digit::D1) => {
                let code = code.clone();
                self.enter(State::Verifying {
                    code: code.clone(),
                    typed_ahead: Vec::new(),
                });
                let items = vec![self.p(PromptId::PleaseWait)];
                self.play(items, out);
                out.push(Action::Verify {
                    code,
                    lang: self.lang,
                });
                let after = self.config.verify_timeout;
                self.start_timer(after, out);
            }
            (State::ReadBack { .. }, Digit::D2) => self.ask_code(Vec::new(), out),
            (State::ReadBack { .. }, Digit::Star) => {
                let items = self.question();
                self.play(items, out);
            }
            (State::ReadBack { .. }, _) => self.retry(Some(PromptId::InvalidKey), out),
            (State::Verdict { code, event_id, .. }, Digit::D9) => {
                let (code, event_id) = (code.clone(), *event_id);
                self.enter(State::Reporting);
                out.push(Action::Report {
                    code,
                    lang: self.lang,
                    event_id,
                });
                let after = self.config.verify_timeout;
                self.start_timer(after, out);
            }
            (State::Verdict { .. }, Digit::D0) => match self.config.agent_uri.clone() {
                Some(uri) => {
                    let items = vec![self.p(PromptId::Transferring)];
                    self.close(items, Then::Transfer(uri), out);
                }
                None => {
                    let mut items = vec![self.p(PromptId::AgentClosed)];
                    items.extend(self.question());
                    self.play(items, out);
                }
            },
            (State::Verdict { spoken, .. }, Digit::Star) => {
                let mut items = spoken.clone();
                items.extend(self.question());
                self.play(items, out);
            }
            (State::Verdict { .. }, _) => self.retry(Some(PromptId::InvalidKey), out),
            _ => {}
        }
    }

    fn on_prompt_finished(&mut self, out: &mut Vec<Action>) {
        match &self.state {
            State::Language => {
                let after = self.config.language_timeout;
                self.start_timer(after, out);
            }
            State::EnterCode { .. } | State::ReadBack { .. } | State::Verdict { .. } => {
                let after = self.config.input_timeout;
                self.start_timer(after, out);
            }
            State::Closing(then) => {
                out.push(match then {
                    Then::Hangup => Action::Hangup,
                    Then::Transfer(uri) => Action::Transfer { uri: uri.clone() },
                });
                self.state = State::Done;
            }
            // Verifying and Reporting keep their timer running across "please wait".
            _ => {}
        }
    }

    fn on_timeout(&mut self, out: &mut Vec<Action>) {
        match &mut self.state {
            State::Language => {
                self.lang = Lang::Zh;
                self.ask_code(Vec::new(), out);
            }
            State::EnterCode { digits } if !digits.is_empty() => {
                // The caller forgot #: read back what they keyed (they confirm it next).
                let code = std::mem::take(digits);
                self.read_back(code, out);
            }
            State::EnterCode { .. } | State::ReadBack { .. } => {
                self.retry(Some(PromptId::NoInput), out)
            }
            State::Verdict { .. } => self.retry(None, out),
            State::Verifying { .. } | State::Reporting => self.fail(Failure::Unavailable, out),
            _ => {}
        }
    }

    fn on_verdict(
        &mut self,
        code: String,
        v: &Verdict,
        typed_ahead: Vec<Digit>,
        out: &mut Vec<Action>,
    ) {
        self.timer = None;
        if self.playing.take().is_some() {
            out.push(Action::StopPlayback);
        }
        let spoken = speech::verdict(v, self.lang);
        // Not a verdict about an item: ask for the code again.
        let ask_again = v.authenticity == Authenticity::NotACode
            || (v.authenticity == Authenticity::Unknown
                && (v.recheck || v.family == Some(zhenwei_core::codes::Family::Gtin)));
        if ask_again {
            // Counted, so a caller who cannot find a valid code is eventually let go.
            self.rejected_codes += 1;
            if self.rejected_codes > self.config.retries {
                self.close(spoken, Then::Hangup, out);
                return;
            }
            self.ask_code(spoken, out);
            return;
        }
        self.enter(State::Verdict {
            code,
            spoken: spoken.clone(),
            event_id: v.event_id,
        });
        if !typed_ahead.is_empty() {
            // Keys typed ahead barge in on the verdict prompt before it starts: it is not played
            // (* plays it); each key acts as if pressed during it, on the menu the last one left.
            for d in typed_ahead {
                self.on_digit(d, out);
            }
            return;
        }
        let mut items = spoken;
        items.push(Utterance::new(self.lang, Say::Pause { ms: 500 }));
        items.extend(self.question());
        self.play(items, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use zhenwei_core::verdict::Warning;

    /// Drives a menu like a call would and remembers the last play and timer.
    struct Call {
        menu: Menu,
        play: Option<(PlayId, Vec<Utterance>)>,
        timer: Option<(TimerId, Duration)>,
        log: Vec<Action>,
    }

    impl Call {
        fn new(config: MenuConfig) -> Call {
            let mut c = Call {
                menu: Menu::new(config),
                play: None,
                timer: None,
                log: Vec::new(),
            };
            c.send(Event::Start);
            c
        }

        fn send(&mut self, e: Event) -> Vec<Action> {
            let actions = self.menu.handle(e);
            for a in &actions {
                match a {
                    Action::Play { id, items } => {
                        self.play = Some((*id, items.clone()));
                        self.timer = None;
                    }
                    Action::StopPlayback => self.play = None,
                    Action::StartTimer { id, after } => self.timer = Some((*id, *after)),
                    _ => {}
                }
            }
            self.log.extend(actions.clone());
            actions
        }

        fn finish(&mut self) -> Vec<Action> {
            let (id, _) = self.play.take().expect("nothing playing");
            self.send(Event::PromptFinished(id))
        }

        fn timeout(&mut self) -> Vec<Action> {
            let (id, _) = self.timer.take().expect("no timer");
            self.send(Event::TimerFired(id))
        }

        fn keys(&mut self, keys: &str) {
            for c in keys.chars() {
                self.send(Event::Digit(Digit::from_char(c).unwrap()));
            }
        }

        fn prompts(&self) -> Vec<PromptId> {
            self.play
                .as_ref()
                .map(|(_, items)| {
                    items
                        .iter()
                        .filter_map(|u| match u.say {
                            Say::Prompt(p) => Some(p),
                            _ => None,
                        })
                        .collect()
                })
                .unwrap_or_default()
        }

        fn langs(&self) -> Vec<Lang> {
            self.play
                .as_ref()
                .map(|(_, i)| i.iter().map(|u| u.lang).collect())
                .unwrap_or_default()
        }

        fn verify_request(&self) -> Option<(String, Lang)> {
            self.log.iter().rev().find_map(|a| match a {
                Action::Verify { code, lang } => Some((code.clone(), *lang)),
                _ => None,
            })
        }
    }

    fn verdict(authenticity: Authenticity) -> Verdict {
        Verdict {
            authenticity,
            family: Some(zhenwei_core::codes::Family::Supervision),
            code: None,
            warnings: Vec::new(),
            recheck: false,
            query_count: 1,
            first_query: true,
            first_queried_at: Some(1_795_192_200_000),
            first_queried_city: None,
            product: None,
            enterprise: None,
            batch: None,
            prefix_status: None,
            notices: Vec::new(),
            case_id: None,
            case_ids: Vec::new(),
            message: String::new(),
            lang: Lang::Zh,
            error: None,
            event_id: 1,
            queried_at: 0,
        }
    }

    const CODE: &str = "12345678901234567890";

    /// Language 2, the code, #, and confirmation: the menu asks the core.
    fn to_verifying(lang_key: &str) -> Call {
        let mut c = Call::new(MenuConfig::default());
        c.finish();
        c.keys(lang_key);
        c.finish();
        c.keys(CODE);
        c.keys("#");
        assert_eq!(c.prompts(), [PromptId::YouEntered, PromptId::ConfirmMenu]);
        c.finish();
        c.keys("1");
        c
    }

    #[test]
    fn starts_with_the_bilingual_language_menu() {
        let c = Call::new(MenuConfig::default());
        assert_eq!(
            c.prompts(),
            [PromptId::LanguageMenu, PromptId::LanguageMenu]
        );
        assert_eq!(c.langs(), [Lang::Zh, Lang::En]);
    }

    #[test]
    fn language_choice_and_default() {
        let mut c = Call::new(MenuConfig::default());
        c.finish();
        assert_eq!(c.timer.unwrap().1, Duration::from_secs(5));
        c.keys("2");
        assert_eq!(c.menu.lang(), Lang::En);
        assert_eq!(c.prompts(), [PromptId::EnterCode]);
        assert_eq!(c.langs(), [Lang::En]);

        let mut c = Call::new(MenuConfig::default());
        c.finish();
        c.timeout();
        assert_eq!(c.menu.lang(), Lang::Zh);
        assert_eq!(c.prompts(), [PromptId::EnterCode]);
    }

    #[test]
    fn barge_in_stops_the_prompt() {
        let mut c = Call::new(MenuConfig::default());
        let a = c.send(Event::Digit(Digit::D1));
        assert_eq!(a[0], Action::StopPlayback);
        assert!(matches!(a[1], Action::Play { .. }));
        // The interrupted prompt's late end is ignored.
        let a = c.menu.handle(Event::PromptFinished(PlayId(1)));
        assert!(a.is_empty());
        // Keys during "enter the code" stop it and count.
        let a = c.send(Event::Digit(Digit::D4));
        assert_eq!(a[0], Action::StopPlayback);
        assert!(matches!(a[1], Action::StartTimer { .. }));
        c.keys("2#");
        assert_eq!(c.prompts(), [PromptId::YouEntered, PromptId::ConfirmMenu]);
        let items = &c.play.as_ref().unwrap().1;
        assert_eq!(items[1].say, Say::Digits("42".into()));
    }

    #[test]
    fn full_flow_genuine_then_repeat_report() {
        let mut c = to_verifying("1");
        assert_eq!(c.verify_request(), Some((CODE.to_owned(), Lang::Zh)));
        assert_eq!(c.prompts(), [PromptId::PleaseWait]);
        assert_eq!(c.timer.unwrap().1, Duration::from_secs(15));
        c.finish(); // "please wait" ends before the verdict: nothing happens
        assert!(c.timer.is_some());
        let mut v = verdict(Authenticity::Genuine);
        v.product = Some(zhenwei_core::facts::ProductFacts {
            id: 1,
            enterprise_id: 1,
            gtin: "06901234567892".into(),
            name: "奶粉".into(),
            name_en: None,
            spec: None,
            category: None,
            ccc_cert_no: None,
            licence_no: None,
        });
        v.event_id = 4711;
        c.send(Event::VerdictReady(Box::new(v)));
        assert_eq!(
            c.prompts(),
            [
                PromptId::Genuine,
                PromptId::Product,
                PromptId::FirstQuery,
                PromptId::VerdictMenu
            ]
        );
        let items = c.play.as_ref().unwrap().1.clone();
        assert!(items.contains(&Utterance::new(Lang::Zh, Say::Name("奶粉".into()))));
        // * repeats the verdict.
        c.keys("*");
        assert_eq!(
            c.play.as_ref().unwrap().1,
            items[..items.len() - 2]
                .iter()
                .cloned()
                .chain(std::iter::once(Utterance::prompt(
                    Lang::Zh,
                    PromptId::VerdictMenu
                )))
                .collect::<Vec<_>>()
        );
        // 9 reports, naming the query whose verdict was heard.
        let a = c.send(Event::Digit(Digit::D9));
        assert!(a.contains(&Action::Report {
            code: CODE.into(),
            lang: Lang::Zh,
            event_id: 4711,
        }));
        c.send(Event::ReportDone(Some(42)));
        assert_eq!(
            c.prompts(),
            [
                PromptId::ReportReceived,
                PromptId::CaseNumber,
                PromptId::Goodbye
            ]
        );
        let a = c.finish();
        assert_eq!(a, [Action::Hangup]);
        assert!(c.menu.is_done());
    }

    #[test]
    fn confirm_menu_2_re_enters_and_star_clears() {
        let mut c = Call::new(MenuConfig::default());
        c.keys("1");
        c.keys("99#");
        c.keys("2");
        assert_eq!(c.prompts(), [PromptId::EnterCode]);
        c.keys("12*");
        assert_eq!(c.prompts(), [PromptId::EnterCode]);
        c.keys("34#");
        assert_eq!(c.play.as_ref().unwrap().1[1].say, Say::Digits("34".into()));
        c.keys("1");
        assert_eq!(c.verify_request(), Some(("34".into(), Lang::Zh)));
    }

    #[test]
    fn inter_digit_timeout_reads_back_what_was_keyed() {
        let mut c = Call::new(MenuConfig::default());
        c.keys("1");
        c.keys("123");
        assert_eq!(c.timer.unwrap().1, Duration::from_secs(5));
        c.timeout();
        assert_eq!(c.prompts(), [PromptId::YouEntered, PromptId::ConfirmMenu]);
    }

    #[test]
    fn three_retries_then_goodbye() {
        let mut c = Call::new(MenuConfig::default());
        c.keys("1");
        c.finish();
        for _ in 0..3 {
            c.timeout();
            assert_eq!(c.prompts(), [PromptId::NoInput, PromptId::EnterCode]);
            c.finish();
        }
        c.timeout();
        assert_eq!(c.prompts(), [PromptId::Goodbye]);
        assert_eq!(c.finish(), [Action::Hangup]);
    }

    #[test]
    fn wrong_keys_count_as_retries() {
        let mut c = Call::new(MenuConfig::default());
        for _ in 0..3 {
            c.keys("7");
            assert_eq!(
                c.prompts(),
                [
                    PromptId::InvalidKey,
                    PromptId::LanguageMenu,
                    PromptId::LanguageMenu
                ]
            );
        }
        c.keys("7");
        assert_eq!(c.prompts(), [PromptId::Goodbye]);
        // Keys during goodbye do nothing.
        assert!(c.send(Event::Digit(Digit::D1)).is_empty());
        c.finish();
        assert!(c.menu.is_done());
    }

    #[test]
    fn progress_resets_the_retry_count() {
        let mut c = Call::new(MenuConfig::default());
        c.keys("7"); // one failure in the language menu
        c.keys("7");
        c.keys("1");
        c.finish();
        for _ in 0..3 {
            c.timeout();
            c.finish();
        }
        c.keys("5#");
        assert_eq!(c.prompts(), [PromptId::YouEntered, PromptId::ConfirmMenu]);
    }

    #[test]
    fn hash_without_digits_and_overlong_codes_are_errors() {
        let mut c = Call::new(MenuConfig::default());
        c.keys("1#");
        assert_eq!(c.prompts(), [PromptId::InvalidKey, PromptId::EnterCode]);
        c.keys(&"1".repeat(32));
        c.keys("1");
        assert_eq!(c.prompts(), [PromptId::NotACode, PromptId::EnterCode]);
        c.keys("5#");
        assert_eq!(c.play.as_ref().unwrap().1[1].say, Say::Digits("5".into()));
    }

    #[test]
    fn unknown_code_asks_to_check_and_re_enter() {
        let mut c = to_verifying("2");
        let mut v = verdict(Authenticity::Unknown);
        v.recheck = true;
        c.send(Event::VerdictReady(Box::new(v)));
        assert_eq!(c.prompts(), [PromptId::UnknownRecheck, PromptId::EnterCode]);
        assert_eq!(c.langs(), [Lang::En, Lang::En]);
        c.keys(CODE);
        c.keys("#1");
        // The confirmed re-entry: the core now answers unknown without recheck (a case).
        let mut v = verdict(Authenticity::Unknown);
        v.case_id = Some(7);
        c.send(Event::VerdictReady(Box::new(v)));
        assert_eq!(
            c.prompts(),
            [
                PromptId::UnknownCode,
                PromptId::KeepReceipt,
                PromptId::CaseNumber,
                PromptId::VerdictMenu
            ]
        );
    }

    #[test]
    fn not_a_code_and_barcodes_ask_again_but_not_forever() {
        let mut c = to_verifying("1");
        for i in 0..4 {
            let mut v = verdict(Authenticity::NotACode);
            v.query_count = 0;
            c.send(Event::VerdictReady(Box::new(v)));
            if i < 3 {
                assert_eq!(c.prompts(), [PromptId::NotACode, PromptId::EnterCode]);
                c.keys("6901234567892#1");
            }
        }
        assert_eq!(c.prompts(), [PromptId::NotACode, PromptId::Goodbye]);
        let mut c = to_verifying("1");
        let mut v = verdict(Authenticity::Unknown);
        v.family = Some(zhenwei_core::codes::Family::Gtin);
        c.send(Event::VerdictReady(Box::new(v)));
        assert_eq!(c.prompts(), [PromptId::ProductBarcode, PromptId::EnterCode]);
    }

    #[test]
    fn suspect_with_warnings_history_and_case() {
        let mut c = to_verifying("1");
        let mut v = verdict(Authenticity::Suspect);
        v.first_query = false;
        v.query_count = 5;
        v.warnings = vec![Warning::ExcessiveQueries];
        v.first_queried_city = Some("宁波".into());
        v.case_id = Some(12);
        c.send(Event::VerdictReady(Box::new(v)));
        assert_eq!(
            c.prompts(),
            [
                PromptId::Suspect,
                PromptId::CheckedBefore,
                PromptId::Times,
                PromptId::FirstCheckedOn,
                PromptId::FirstCheckedIn,
                PromptId::WExcessiveQueries,
                PromptId::KeepReceipt,
                PromptId::CaseNumber,
                PromptId::VerdictMenu
            ]
        );
        let items = &c.play.as_ref().unwrap().1;
        assert!(items.iter().any(|u| u.say == Say::Number(5)));
        assert!(items
            .iter()
            .any(|u| u.say == Say::Date(chrono::NaiveDate::from_ymd_opt(2026, 11, 21).unwrap())));
        assert!(items.iter().any(|u| u.say == Say::Name("宁波".into())));
        assert!(items.iter().any(|u| u.say == Say::Digits("12".into())));
    }

    #[test]
    fn repeat_query_warns_beware() {
        let mut c = to_verifying("1");
        let mut v = verdict(Authenticity::Genuine);
        v.first_query = false;
        v.query_count = 2;
        v.warnings = vec![Warning::RepeatQuery, Warning::Recalled];
        c.send(Event::VerdictReady(Box::new(v)));
        assert_eq!(
            c.prompts(),
            [
                PromptId::Genuine,
                PromptId::CheckedBefore,
                PromptId::Times,
                PromptId::FirstCheckedOn,
                PromptId::Beware,
                PromptId::WRecalled,
                PromptId::VerdictMenu
            ]
        );
    }

    #[test]
    fn agent_transfer_or_opening_hours() {
        let mut c = to_verifying("1");
        c.send(Event::VerdictReady(Box::new(verdict(
            Authenticity::Genuine,
        ))));
        c.keys("0");
        assert_eq!(c.prompts(), [PromptId::AgentClosed, PromptId::VerdictMenu]);

        let config = MenuConfig {
            agent_uri: Some("sip:agent@example.com".into()),
            ..MenuConfig::default()
        };
        let mut c = Call::new(config);
        c.keys("1");
        c.keys("5#1");
        c.send(Event::VerdictReady(Box::new(verdict(
            Authenticity::Genuine,
        ))));
        c.keys("0");
        assert_eq!(c.prompts(), [PromptId::Transferring]);
        assert_eq!(
            c.finish(),
            [Action::Transfer {
                uri: "sip:agent@example.com".into()
            }]
        );
        assert!(c.menu.is_done());
    }

    #[test]
    fn after_the_verdict_silence_repeats_the_menu_then_goodbye() {
        let mut c = to_verifying("1");
        c.send(Event::VerdictReady(Box::new(verdict(
            Authenticity::Genuine,
        ))));
        c.finish();
        for _ in 0..3 {
            c.timeout();
            assert_eq!(c.prompts(), [PromptId::VerdictMenu]);
            c.finish();
        }
        c.timeout();
        assert_eq!(c.prompts(), [PromptId::Goodbye]);
    }

    #[test]
    fn core_failures_and_rate_limits_end_the_call_politely() {
        let mut c = to_verifying("1");
        c.send(Event::VerifyFailed(Failure::RateLimited));
        assert_eq!(c.prompts(), [PromptId::RateLimited, PromptId::Goodbye]);
        let mut c = to_verifying("1");
        c.timeout();
        assert_eq!(
            c.prompts(),
            [PromptId::ServiceUnavailable, PromptId::Goodbye]
        );
        // A verdict after the timeout is ignored.
        assert!(c
            .send(Event::VerdictReady(Box::new(verdict(
                Authenticity::Genuine
            ))))
            .is_empty());
        let mut c = to_verifying("1");
        c.send(Event::VerdictReady(Box::new(verdict(
            Authenticity::Genuine,
        ))));
        c.keys("9");
        c.send(Event::ReportFailed);
        assert_eq!(
            c.prompts(),
            [PromptId::ServiceUnavailable, PromptId::Goodbye]
        );
    }

    #[test]
    fn keys_while_verifying_are_kept_and_please_wait_plays_on() {
        let mut c = to_verifying("1");
        let (wait, _) = c.play.clone().unwrap();
        assert!(c.send(Event::Digit(Digit::D5)).is_empty());
        assert_eq!(
            c.play.as_ref().unwrap().0,
            wait,
            "please wait is not interrupted"
        );
        assert!(c.send(Event::ReportDone(None)).is_empty());
        // "please wait" ends before the verdict; the key is still kept for the verdict menu.
        c.finish();
        c.send(Event::VerdictReady(Box::new(verdict(
            Authenticity::Genuine,
        ))));
        assert_eq!(c.prompts(), [PromptId::InvalidKey, PromptId::VerdictMenu]);
    }

    /// The verdict for `c`'s code; returns the actions it caused.
    fn genuine_verdict(c: &mut Call) -> Vec<Action> {
        c.send(Event::VerdictReady(Box::new(verdict(
            Authenticity::Genuine,
        ))))
    }

    #[test]
    fn nine_typed_ahead_reports_at_once_without_the_verdict_prompt() {
        let mut c = to_verifying("2");
        // 9 then 1 while the core checks: nothing happens yet.
        assert!(c.send(Event::Digit(Digit::D9)).is_empty());
        assert!(c.send(Event::Digit(Digit::D1)).is_empty());
        assert_eq!(c.prompts(), [PromptId::PleaseWait]);
        let a = genuine_verdict(&mut c);
        // "please wait" stops, the report goes to the core, the verdict is never played.
        assert_eq!(a[0], Action::StopPlayback);
        assert_eq!(
            a[1],
            Action::Report {
                code: CODE.into(),
                lang: Lang::En,
                event_id: 1,
            }
        );
        assert!(
            matches!(a[2], Action::StartTimer { after, .. } if after == Duration::from_secs(15))
        );
        assert_eq!(a.len(), 3, "{a:?}");
        assert!(!a.iter().any(|a| matches!(a, Action::Play { .. })));
        // The 1 after the 9 met the report (keys are ignored there).
        assert_eq!(
            c.log
                .iter()
                .filter(|a| matches!(a, Action::Report { .. }))
                .count(),
            1
        );
        c.send(Event::ReportDone(Some(42)));
        assert_eq!(
            c.prompts(),
            [
                PromptId::ReportReceived,
                PromptId::CaseNumber,
                PromptId::Goodbye
            ]
        );
        assert_eq!(c.langs(), [Lang::En, Lang::En, Lang::En, Lang::En]);
        assert_eq!(c.finish(), [Action::Hangup]);
    }

    /// 9 reports the query of the verdict the caller heard — not a code sent back for re-entry
    /// before it.
    #[test]
    fn nine_reports_the_event_of_the_verdict_heard() {
        let mut c = to_verifying("1");
        let mut rejected = verdict(Authenticity::NotACode);
        rejected.event_id = 500;
        c.send(Event::VerdictReady(Box::new(rejected)));
        assert_eq!(c.prompts().last(), Some(&PromptId::EnterCode));
        c.keys("9"); // a digit of the next code, not a report
        assert!(!c.log.iter().any(|a| matches!(a, Action::Report { .. })));
        c.keys("8#");
        c.finish();
        c.keys("1");
        assert_eq!(c.verify_request(), Some(("98".to_owned(), Lang::Zh)));
        let mut heard = verdict(Authenticity::Suspect);
        heard.event_id = 501;
        c.send(Event::VerdictReady(Box::new(heard)));
        c.finish();
        let a = c.send(Event::Digit(Digit::D9));
        assert!(
            a.contains(&Action::Report {
                code: "98".into(),
                lang: Lang::Zh,
                event_id: 501,
            }),
            "{a:?}"
        );
    }

    #[test]
    fn keys_typed_ahead_apply_in_order_as_barge_in() {
        let mut c = to_verifying("1");
        // * (hear the verdict), then 0 (an agent; none configured): 0 barges in on the verdict.
        c.keys("*0");
        let a = genuine_verdict(&mut c);
        let plays: Vec<_> = a
            .iter()
            .filter(|a| matches!(a, Action::Play { .. } | Action::StopPlayback))
            .collect();
        assert_eq!(
            plays.len(),
            4,
            "stop wait, play verdict, stop it, play: {a:?}"
        );
        assert_eq!(a[0], Action::StopPlayback);
        match &a[1] {
            Action::Play { items, .. } => {
                assert_eq!(items[0], Utterance::prompt(Lang::Zh, PromptId::Genuine));
                assert_eq!(
                    items.last(),
                    Some(&Utterance::prompt(Lang::Zh, PromptId::VerdictMenu))
                );
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(a[2], Action::StopPlayback);
        assert_eq!(c.prompts(), [PromptId::AgentClosed, PromptId::VerdictMenu]);
        // The menu goes on as usual: silence, then the menu again.
        c.finish();
        c.timeout();
        assert_eq!(c.prompts(), [PromptId::VerdictMenu]);
    }

    #[test]
    fn type_ahead_is_bounded_and_wrong_keys_count_as_retries() {
        let mut c = to_verifying("1");
        // Four wrong keys are kept (the bound), the 9 after them is dropped.
        c.keys("5555");
        c.keys("9");
        genuine_verdict(&mut c);
        // Four wrong keys: three retries, then goodbye; no report.
        assert_eq!(c.prompts(), [PromptId::Goodbye]);
        assert!(!c.log.iter().any(|a| matches!(a, Action::Report { .. })));
        assert_eq!(
            c.log
                .iter()
                .filter(|a| matches!(a, Action::Play { items, .. }
                    if items.first() == Some(&Utterance::prompt(Lang::Zh, PromptId::InvalidKey))))
                .count(),
            3
        );
        assert_eq!(c.finish(), [Action::Hangup]);

        let config = MenuConfig {
            type_ahead_digits: 1,
            ..MenuConfig::default()
        };
        let mut c = Call::new(config);
        c.keys("1");
        c.keys("5#1");
        c.keys("59");
        genuine_verdict(&mut c);
        assert_eq!(c.prompts(), [PromptId::InvalidKey, PromptId::VerdictMenu]);
        assert!(!c.log.iter().any(|a| matches!(a, Action::Report { .. })));
    }

    #[test]
    fn type_ahead_is_dropped_when_the_code_comes_back_or_the_core_fails() {
        // Sent back for re-entry: the 9 does not become the new code's first digit, and the
        // caller hears why.
        let mut c = to_verifying("1");
        c.keys("9");
        let mut v = verdict(Authenticity::NotACode);
        v.query_count = 0;
        let a = c.send(Event::VerdictReady(Box::new(v)));
        assert_eq!(c.prompts(), [PromptId::NotACode, PromptId::EnterCode]);
        assert_eq!(
            a.iter()
                .filter(|a| matches!(a, Action::StopPlayback))
                .count(),
            1,
            "only please wait stops: {a:?}"
        );
        c.keys("5#");
        assert_eq!(c.play.as_ref().unwrap().1[1].say, Say::Digits("5".into()));
        // The confirmed re-entry's verdict knows nothing of the old 9.
        c.keys("1");
        genuine_verdict(&mut c);
        assert_eq!(c.prompts().last(), Some(&PromptId::VerdictMenu));
        assert!(!c.log.iter().any(|a| matches!(a, Action::Report { .. })));

        // Rate-limited, or no answer in time: goodbye, no report.
        let mut c = to_verifying("1");
        c.keys("9");
        c.send(Event::VerifyFailed(Failure::RateLimited));
        assert_eq!(c.prompts(), [PromptId::RateLimited, PromptId::Goodbye]);
        let mut c = to_verifying("1");
        c.keys("9");
        c.timeout();
        assert_eq!(
            c.prompts(),
            [PromptId::ServiceUnavailable, PromptId::Goodbye]
        );
        assert!(genuine_verdict(&mut c).is_empty());
        assert!(!c.log.iter().any(|a| matches!(a, Action::Report { .. })));
        assert_eq!(c.finish(), [Action::Hangup]);
    }

    #[test]
    fn keys_while_reporting_are_ignored() {
        let mut c = to_verifying("1");
        genuine_verdict(&mut c);
        c.keys("9");
        assert!(c.send(Event::Digit(Digit::D9)).is_empty());
        assert!(c.send(Event::Digit(Digit::Star)).is_empty());
        c.send(Event::ReportDone(None));
        assert_eq!(c.prompts(), [PromptId::ReportReceived, PromptId::Goodbye]);
        assert_eq!(
            c.log
                .iter()
                .filter(|a| matches!(a, Action::Report { .. }))
                .count(),
            1
        );
    }

    #[test]
    fn stale_timers_are_ignored() {
        let mut c = Call::new(MenuConfig::default());
        c.keys("1");
        c.keys("1");
        let (old, _) = c.timer.unwrap();
        c.keys("2");
        assert!(c.send(Event::TimerFired(old)).is_empty());
    }

    #[test]
    fn random_event_sequences_never_panic_and_end() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        for _ in 0..300 {
            let mut c = Call::new(MenuConfig::default());
            for _ in 0..200 {
                let e = match rng.gen_range(0..6) {
                    0 | 1 => Event::Digit(Digit::ALL[rng.gen_range(0..16)]),
                    2 => match c.play.clone() {
                        Some((id, _)) => Event::PromptFinished(id),
                        None => continue,
                    },
                    3 => match c.timer {
                        Some((id, _)) => Event::TimerFired(id),
                        None => continue,
                    },
                    4 => Event::VerdictReady(Box::new(verdict(Authenticity::Genuine))),
                    _ => Event::ReportDone(Some(1)),
                };
                c.send(e);
                if c.menu.is_done() {
                    break;
                }
                // Whatever the state, the menu is waiting for something it asked for.
                assert!(
                    c.play.is_some() || c.timer.is_some() || c.menu.is_done(),
                    "{:?}",
                    c.menu
                );
            }
        }
    }
}
