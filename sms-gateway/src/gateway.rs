//! # The gateway: one inbound SMS in, one reply text out
//!
//! [`Gateway::handle`] is what every transport calls (the Kannel-style HTTP route, the SMPP
//! ESME): it takes an [`Inbound`] message (`from`, `to`, `text`) and returns the reply. On the
//! way it
//!
//! 1. normalises the sender's number ([`zhenwei_core::numbers::canonical`]: `+86…`, `0086…`,
//!    bare 11-digit mobiles are one person);
//! 2. parses the text ([`crate::parse`]);
//! 3. records the contact ([`zhenwei_core::contacts`]: encrypted number, keyed hash, opt-out).
//!    For verify and report commands the core's recorder does it, in the same group-committed
//!    transaction as the query's event — no write of its own, and the number is on file exactly
//!    when the query is; any other message writes it here, at most once per [`SEEN_REFRESH`];
//! 4. for verify and report commands, applies the per-number rate limit
//!    ([`zhenwei_core::rate_limit`]) and asks the core whether this number has been caught
//!    enumerating codes ([`zhenwei_core::Verifier::enumerating`]); either way the number gets a
//!    neutral "too many queries" answer and the core is not asked — a guesser learns nothing;
//! 5. asks the core (`Channel::Sms`, the number as source) and builds the reply
//!    ([`crate::reply`]).
//!
//! Help and opt-out always work, rate limit or not. Numbers appear in logs only masked.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use lru::LruCache;
use zhenwei_core::codes::text::mask_phone;
use zhenwei_core::contacts::Contacts;
use zhenwei_core::numbers;
use zhenwei_core::rate_limit::{Decision, Limit, RateLimiter};
use zhenwei_core::{Channel, Core, Lang, Query, Verifier};

use crate::parse::{self, Command};
use crate::reply;

/// A mobile-originated message as a transport delivers it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Inbound {
    /// The texter's number (MSISDN).
    pub from: String,
    /// The short code it was sent to.
    pub to: String,
    pub text: String,
}

/// What happened to a message, for logs and metrics.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Verified,
    Reported,
    Help,
    OptedOut,
    OptedIn,
    Unrecognised,
    RateLimited,
    /// Held back because the core saw this number enumerating codes.
    Enumerating,
    /// The core failed; the texter was asked to try again.
    Unavailable,
}

impl Outcome {
    pub const ALL: [Outcome; 9] = [
        Outcome::Verified,
        Outcome::Reported,
        Outcome::Help,
        Outcome::OptedOut,
        Outcome::OptedIn,
        Outcome::Unrecognised,
        Outcome::RateLimited,
        Outcome::Enumerating,
        Outcome::Unavailable,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Verified => "verified",
            Outcome::Reported => "reported",
            Outcome::Help => "help",
            Outcome::OptedOut => "opted_out",
            Outcome::OptedIn => "opted_in",
            Outcome::Unrecognised => "unrecognised",
            Outcome::RateLimited => "rate_limited",
            Outcome::Enumerating => "enumerating",
            Outcome::Unavailable => "unavailable",
        }
    }
}

/// The reply to one message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reply {
    pub text: String,
    pub lang: Lang,
    pub outcome: Outcome,
}

/// A message the gateway cannot even start on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GatewayError {
    #[error("the sender {0:?} is not a phone number")]
    BadNumber(String),
}

/// Per-number limits (configurable in the server's `[sms]` section).
#[derive(Clone, Debug, PartialEq)]
pub struct GatewayConfig {
    /// Verify/report messages a number may send at once…
    pub burst: u32,
    /// …and per minute after that.
    pub per_minute: f64,
    /// Numbers whose rate-limit state is kept in memory.
    pub max_numbers: usize,
}

impl Default for GatewayConfig {
    fn default() -> Self {
        GatewayConfig {
            burst: 10,
            per_minute: 6.0,
            max_numbers: 100_000,
        }
    }
}

/// A contact's `last_seen` is written at most this often per number.
pub const SEEN_REFRESH: Duration = Duration::from_secs(600);

/// The SMS gateway service. Share it (`Arc`) between transports.
pub struct Gateway {
    verifier: Verifier,
    contacts: Contacts,
    limiter: Mutex<RateLimiter<String>>,
    seen: Mutex<LruCache<String, Instant>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Gateway {
    pub fn new(core: &Core, config: &GatewayConfig) -> Gateway {
        Gateway {
            verifier: core.verifier.clone(),
            contacts: Contacts::new(core.store.clone(), core.keys.clone()),
            limiter: Mutex::new(RateLimiter::new(
                Limit {
                    burst: config.burst,
                    per_minute: config.per_minute,
                },
                config.max_numbers,
            )),
            seen: Mutex::new(LruCache::new(
                std::num::NonZeroUsize::new(config.max_numbers.max(1))
                    .unwrap_or(std::num::NonZeroUsize::MIN),
            )),
        }
    }

    pub fn contacts(&self) -> &Contacts {
        &self.contacts
    }

    /// Answers one message. Only a sender that is no phone number is an error; every text gets
    /// a reply, and a failure of the core becomes "please try again".
    pub async fn handle(&self, msg: &Inbound) -> Result<Reply, GatewayError> {
        let number = numbers::canonical(&msg.from)
            .ok_or_else(|| GatewayError::BadNumber(mask_phone(&msg.from)))?;
        let parsed = parse::parse(&msg.text);
        let lang = parsed.lang;
        let reply = match self.answer(&number, parsed.command, lang).await {
            Ok(r) => r,
            Err(e) => {
                tracing::error!(from = %mask_phone(&number), error = %e, "sms: the core failed");
                Reply {
                    text: reply::unavailable(lang),
                    lang,
                    outcome: Outcome::Unavailable,
                }
            }
        };
        tracing::info!(
            from = %mask_phone(&number),
            to = %msg.to,
            outcome = reply.outcome.as_str(),
            "sms handled"
        );
        Ok(reply)
    }

    async fn answer(
        &self,
        number: &str,
        command: Command,
        lang: Lang,
    ) -> Result<Reply, Box<dyn std::error::Error + Send + Sync>> {
        let done = |text: String, outcome| Reply {
            text,
            lang,
            outcome,
        };
        let now = zhenwei_core::store::now_ms();
        if command == Command::OptOut {
            self.contacts.opt_out(Channel::Sms, number, now).await?;
            lock(&self.seen).put(number.to_owned(), Instant::now());
            return Ok(done(reply::opted_out(lang), Outcome::OptedOut));
        }
        if command == Command::OptIn {
            self.contacts.opt_in(Channel::Sms, number, now).await?;
            lock(&self.seen).put(number.to_owned(), Instant::now());
            return Ok(done(reply::opted_in(lang), Outcome::OptedIn));
        }
        let early = match &command {
            Command::Help => Some((reply::help(lang), Outcome::Help)),
            Command::Unrecognised => Some((reply::unrecognised(lang), Outcome::Unrecognised)),
            Command::Report { code: None, .. } => {
                Some((reply::report(None, lang), Outcome::Reported))
            }
            _ => None,
        };
        if let Some((text, outcome)) = early {
            self.saw(number, now).await?;
            return Ok(done(text, outcome));
        }
        let key = self.contacts.key(Channel::Sms, number);
        let limited = matches!(
            lock(&self.limiter).check(key, Instant::now()),
            Decision::Limited { .. }
        );
        if limited {
            self.saw(number, now).await?;
            return Ok(done(reply::rate_limited(lang), Outcome::RateLimited));
        }
        if self.verifier.enumerating(Channel::Sms, number).await? {
            self.saw(number, now).await?;
            return Ok(done(reply::rate_limited(lang), Outcome::Enumerating));
        }
        // From here the recorder stores the contact with the query's event.
        let place = numbers::place_or_unknown(&self.verifier, number).await;
        let query = |input: &str| Query {
            input: input.to_owned(),
            channel: Channel::Sms,
            source: number.to_owned(),
            place: place.clone(),
            store_id: None,
            lang,
        };
        match command {
            Command::Verify { codes, more } => {
                let mut results = Vec::with_capacity(codes.len());
                for c in codes {
                    let v = self.verifier.verify(&query(&c.text)).await?;
                    results.push((c.text, v));
                }
                Ok(done(reply::verify(&results, more, lang), Outcome::Verified))
            }
            Command::Report {
                code: Some(code),
                note,
            } => {
                let v = self
                    .verifier
                    .report(&query(&code.text), note.as_deref())
                    .await?;
                Ok(done(reply::report(Some(&v), lang), Outcome::Reported))
            }
            _ => Ok(done(reply::unrecognised(lang), Outcome::Unrecognised)),
        }
    }

    /// Records the contact unless it was recorded within [`SEEN_REFRESH`].
    async fn saw(
        &self,
        number: &str,
        now_ms: i64,
    ) -> Result<(), zhenwei_core::contacts::ContactError> {
        let fresh = lock(&self.seen)
            .get(number)
            .is_some_and(|at| at.elapsed() < SEEN_REFRESH);
        if !fresh {
            self.contacts.seen(Channel::Sms, number, now_ms).await?;
            lock(&self.seen).put(number.to_owned(), Instant::now());
        }
        Ok(())
    }
}
