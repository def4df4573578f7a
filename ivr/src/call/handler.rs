//! The IVR behind the SIP seam: [`IvrHandler`] implements the user agent's
//! [`CallHandler`](crate::sip::call::CallHandler) with real media and the menu.
//!
//! Offers are answered by [`Calls`] (an RTP port per call, SDP offer/answer; no common codec →
//! 488); `Started` starts the call's media and menu; INFO key presses, re-offers and the end of
//! the dialog are passed on; the call's requests to hang up or transfer go back through the
//! user agent's [`CallControl`]. A transfer that ends (the agent answered, or it failed) ends our
//! leg of the call.

use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use zhenwei_core::rate_limit::{Limit, RateLimiter};
use zhenwei_core::Verifier;

use super::calls::{AnswerError, Calls};
use super::shell::{CallDeps, SignalCommand};
use crate::dtmf::Digit;
use crate::menu::MenuConfig;
use crate::prompts::names::NameCache;
use crate::prompts::{Library, NameVoices, NoNames, PromptError};
use crate::sip::call::{Answer, CallEvent, CallHandler, CallInfo, Reject};
use crate::sip::transport::CallControl;

/// How the hotline is set up.
#[derive(Clone, Debug)]
pub struct IvrOptions {
    /// Where RTP ports are bound.
    pub media_ip: IpAddr,
    /// The address put in SDP answers (defaults to `media_ip`).
    pub advertise_ip: Option<IpAddr>,
    /// Where "0 agent" transfers to.
    pub agent_uri: Option<String>,
    /// Studio recordings overriding the built-in prompts (`zh/<id>.wav`, `en/<id>.wav`).
    pub prompts_dir: Option<PathBuf>,
    /// The data directory: spoken names are cached in `ivr-names/` there. `None`: no names.
    pub data_dir: Option<PathBuf>,
    /// Concurrent calls before 486 Busy Here.
    pub max_calls: usize,
    /// Verifications per caller per hour.
    pub queries_per_caller_hour: usize,
    pub max_call: Duration,
}

impl IvrOptions {
    pub fn new(media_ip: IpAddr) -> IvrOptions {
        IvrOptions {
            media_ip,
            advertise_ip: None,
            agent_uri: None,
            prompts_dir: None,
            data_dir: None,
            max_calls: 2000,
            queries_per_caller_hour: 20,
            max_call: Duration::from_secs(600),
        }
    }
}

/// The per-caller limit of the voice menu on the core's token bucket: an hour's allowance at
/// once, refilled evenly over the hour; the 100 000 most recent callers remembered.
pub fn caller_limit(queries_per_hour: usize) -> RateLimiter<String> {
    let per_hour = u32::try_from(queries_per_hour).unwrap_or(u32::MAX);
    RateLimiter::new(
        Limit {
            burst: per_hour,
            per_minute: f64::from(per_hour) / 60.0,
        },
        100_000,
    )
}

/// The call handler the SIP user agent drives.
pub struct IvrHandler {
    calls: Calls,
}

impl IvrHandler {
    /// Loads the prompts, starts the name cache (warming it with every registered name in the
    /// background) and returns the handler. Must run on a tokio runtime.
    pub fn start(verifier: Option<Verifier>, o: IvrOptions) -> Result<IvrHandler, PromptError> {
        let library = Arc::new(Library::load(o.prompts_dir.as_deref())?);
        let names: Arc<dyn NameVoices> = match &o.data_dir {
            Some(dir) => {
                let cache = NameCache::new(dir);
                cache.start();
                if let Some(v) = &verifier {
                    let (cache, pool) = (cache.clone(), v.store().pool().clone());
                    tokio::spawn(async move {
                        cache.warm_registered(&pool).await;
                        cache.warm_advice(&pool).await;
                    });
                }
                cache
            }
            None => Arc::new(NoNames),
        };
        let limit = Some(std::sync::Mutex::new(caller_limit(
            o.queries_per_caller_hour,
        )));
        let deps = Arc::new(CallDeps {
            verifier,
            library,
            names,
            limit,
            menu: MenuConfig {
                agent_uri: o.agent_uri.clone(),
                ..MenuConfig::default()
            },
            max_call: o.max_call,
        });
        Ok(IvrHandler::with_deps(deps, &o))
    }

    /// A handler over given dependencies (tests, benchmarks).
    pub fn with_deps(deps: Arc<CallDeps>, o: &IvrOptions) -> IvrHandler {
        IvrHandler {
            calls: Calls::new(
                deps,
                o.media_ip,
                o.advertise_ip.unwrap_or(o.media_ip),
                o.max_calls,
            ),
        }
    }
}

impl Answer for IvrHandler {
    fn answer(&mut self, call: &CallInfo, offer: &str) -> Result<String, Reject> {
        self.calls.answer(call, offer).map_err(|e| {
            tracing::info!(call = call.id, error = %e, "offer refused");
            match e {
                AnswerError::NotAcceptable(_) => Reject::NotAcceptable,
                AnswerError::Busy => Reject::Busy,
                AnswerError::Unavailable(_) => Reject::Unavailable,
            }
        })
    }
}

impl CallHandler for IvrHandler {
    fn event(&mut self, call: &CallInfo, event: CallEvent, control: &CallControl) {
        // The call log: how each call starts, changes and ends (keys are not logged: they
        // spell codes).
        if !matches!(event, CallEvent::Dtmf { .. }) {
            let caller = zhenwei_core::codes::text::mask_phone(&super::caller_source(&call.caller));
            tracing::info!(call = call.id, %caller, ?event, "call event");
        }
        match event {
            CallEvent::Started { .. } => {
                let (control, id) = (control.clone(), call.id);
                self.calls.start(
                    call.id,
                    Box::new(move |cmd| match cmd {
                        SignalCommand::Hangup => control.hangup(id),
                        SignalCommand::Transfer(uri) => control.transfer(id, uri),
                    }),
                );
            }
            // The re-offer was answered through `answer`, which passed it to the call.
            CallEvent::Reoffered { .. } => {}
            CallEvent::Dtmf { digit, .. } => match Digit::from_char(digit) {
                Some(d) => self.calls.digit(call.id, d),
                None => tracing::debug!(call = call.id, %digit, "INFO key ignored"),
            },
            CallEvent::Transfer { status, final_ } => {
                if final_ || status >= 300 {
                    tracing::info!(
                        call = call.id,
                        status,
                        "transfer finished; leaving the call"
                    );
                    control.hangup(call.id);
                }
            }
            CallEvent::Ended { reason } => {
                tracing::debug!(call = call.id, ?reason, "dialog ended");
                self.calls.end(call.id, reason);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;
    use zhenwei_core::rate_limit::Decision;

    #[test]
    fn each_caller_gets_an_hours_allowance_refilled_over_the_hour() {
        let mut l = caller_limit(3);
        let t0 = Instant::now();
        for i in 0..3 {
            assert_eq!(
                l.check("13800000001".into(), t0 + Duration::from_secs(i)),
                Decision::Allowed
            );
        }
        // The fourth within the hour waits for one token: 20 minutes after the burst began.
        let Decision::Limited { retry_after } =
            l.check("13800000001".into(), t0 + Duration::from_secs(10))
        else {
            panic!("not limited");
        };
        assert!(
            (1185..=1195).contains(&retry_after.as_secs()),
            "{retry_after:?}"
        );
        assert_eq!(
            l.check("13800000002".into(), t0 + Duration::from_secs(10)),
            Decision::Allowed,
            "another caller"
        );
        assert_eq!(
            l.check("13800000001".into(), t0 + Duration::from_secs(1250)),
            Decision::Allowed
        );
    }
}
