//! The seam between signalling and the call: what the SIP user agent tells the media and menu
//! side, and what that side asks of it.
//!
//! The user agent ([`super::uas::Uas`]) owns dialogs and transactions; a call is known to the
//! other side only by its [`CallId`] and [`CallInfo`]. Three things cross the seam:
//!
//! 1. **Offer → answer** ([`Answer::answer`]), synchronously while an INVITE or re-INVITE is
//!    being answered: the SDP offer goes in, the SDP answer comes out — or a [`Reject`] (488 when
//!    no codec is common). The media side allocates its RTP port here.
//! 2. **Events** ([`CallEvent`]): the call is up (ACK), the caller pressed a key (SIP INFO), put
//!    us on hold, a transfer progressed, the call ended.
//! 3. **Commands** ([`CallCommand`]): hang up (BYE), transfer to the agent (REFER).
//!
//! [`CallHandler`] bundles 1 and 2 for the tokio shell, which hands it a
//! [`CallControl`](super::transport::CallControl) to send commands at any time.
//! [`FixedAnswer`] is the stand-in until the media helper's SDP/RTP/menu work plugs in here.

use std::net::SocketAddr;
use std::time::Duration;

use super::transport::CallControl;

/// The user agent's handle for one call.
pub type CallId = u64;

/// What the call side knows about a call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CallInfo {
    pub id: CallId,
    /// The SIP Call-ID.
    pub sip_call_id: String,
    /// The caller's URI (From), e.g. `sip:+8613800138000@trunk.example`.
    pub caller: String,
    /// The dialled URI (Request-URI).
    pub dialled: String,
    /// Where the signalling comes from.
    pub remote: SocketAddr,
}

/// Why an offer is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Reject {
    /// No common codec, or an SDP we cannot read: 488.
    #[error("not acceptable here")]
    NotAcceptable,
    /// Too many calls: 486.
    #[error("busy here")]
    Busy,
    /// Not able to take calls now: 503.
    #[error("service unavailable")]
    Unavailable,
}

impl Reject {
    pub fn status(self) -> u16 {
        match self {
            Reject::NotAcceptable => 488,
            Reject::Busy => 486,
            Reject::Unavailable => 503,
        }
    }
}

/// Something that happened to a call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CallEvent {
    /// The caller acknowledged our answer: media flows now. `remote_sdp` is the caller's offer.
    Started { remote_sdp: String },
    /// A re-INVITE changed the session (answered already); `hold` when it puts us on hold.
    Reoffered { remote_sdp: String, hold: bool },
    /// A key press sent by SIP INFO (`application/dtmf-relay` or `application/dtmf`).
    Dtmf {
        digit: char,
        duration_ms: Option<u32>,
    },
    /// A transfer we asked for progressed: the REFER's rejection, or a NOTIFY's sipfrag status
    /// (`final_` when the subscription ended).
    Transfer { status: u16, final_: bool },
    /// The call is over.
    Ended { reason: EndReason },
}

/// Why a call ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EndReason {
    /// The caller sent BYE.
    RemoteBye,
    /// We sent BYE (a [`CallCommand::Hangup`]).
    LocalBye,
    /// The caller cancelled before we answered.
    Cancelled,
    /// Our 200 OK was never acknowledged; we sent BYE.
    NoAck,
}

/// What the call side asks of the user agent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CallCommand {
    /// End the call (BYE, or 480 if not answered yet).
    Hangup,
    /// Transfer the caller to `target` (REFER within the dialog).
    Transfer { target: String },
}

/// Produces the SDP answer for an offer.
pub trait Answer {
    fn answer(&mut self, call: &CallInfo, offer: &str) -> Result<String, Reject>;
}

/// The call side, as the tokio shell drives it.
pub trait CallHandler: Answer + Send + 'static {
    /// `event` happened to `call`; `control` sends commands now or later.
    fn event(&mut self, call: &CallInfo, event: CallEvent, control: &CallControl);
}

/// The seam's stand-in: answers every offer that has PCMU or PCMA with a fixed G.711 +
/// telephone-event answer (no media is sent yet), logs key presses, transfers to `agent_uri`
/// when the caller presses 0 by SIP INFO (hanging up once the transfer succeeded), and hangs up
/// after `hangup_after`. The media helper's SDP/RTP/menu implementation replaces it.
#[derive(Clone, Debug)]
pub struct FixedAnswer {
    /// The address put in the answer's `c=`/`m=` lines.
    pub media_addr: SocketAddr,
    pub hangup_after: Duration,
    /// Where "0 agent" transfers to.
    pub agent_uri: Option<String>,
}

impl Answer for FixedAnswer {
    fn answer(&mut self, _call: &CallInfo, offer: &str) -> Result<String, Reject> {
        let audio = offer
            .lines()
            .find(|l| l.starts_with("m=audio "))
            .ok_or(Reject::NotAcceptable)?;
        let formats: Vec<&str> = audio.split_whitespace().skip(3).collect();
        let codec = ["0", "8"]
            .into_iter()
            .find(|pt| formats.contains(pt))
            .ok_or(Reject::NotAcceptable)?;
        let ip = self.media_addr.ip();
        let family = if ip.is_ipv4() { "IP4" } else { "IP6" };
        let name = if codec == "0" { "PCMU" } else { "PCMA" };
        Ok(format!(
            "v=0\r\no=- 1 1 IN {family} {ip}\r\ns=-\r\nc=IN {family} {ip}\r\nt=0 0\r\n\
             m=audio {} RTP/AVP {codec} 101\r\na=rtpmap:{codec} {name}/8000\r\n\
             a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na=ptime:20\r\na=sendrecv\r\n",
            self.media_addr.port()
        ))
    }
}

impl CallHandler for FixedAnswer {
    fn event(&mut self, call: &CallInfo, event: CallEvent, control: &CallControl) {
        tracing::info!(call = call.id, caller = %call.caller, ?event, "call event");
        match event {
            CallEvent::Started { .. } => control.hangup_after(call.id, self.hangup_after),
            CallEvent::Dtmf { digit: '0', .. } => {
                if let Some(agent) = &self.agent_uri {
                    control.transfer(call.id, agent.clone());
                }
            }
            CallEvent::Transfer {
                status,
                final_: true,
            } if (200..300).contains(&status) => control.hangup(call.id),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info() -> CallInfo {
        CallInfo {
            id: 1,
            sip_call_id: "c".into(),
            caller: "sip:a@b".into(),
            dialled: "sip:ivr@b".into(),
            remote: "127.0.0.1:5060".parse().unwrap(),
        }
    }

    #[test]
    fn fixed_answer_picks_g711_or_rejects() {
        let mut f = FixedAnswer {
            media_addr: "127.0.0.1:4000".parse().unwrap(),
            hangup_after: Duration::from_secs(1),
            agent_uri: None,
        };
        let sdp = f
            .answer(&info(), "v=0\r\nm=audio 49217 RTP/AVP 18 8 101\r\n")
            .unwrap();
        assert!(sdp.contains("m=audio 4000 RTP/AVP 8 101\r\n"), "{sdp}");
        assert!(sdp.contains("a=rtpmap:8 PCMA/8000"));
        assert_eq!(
            f.answer(&info(), "v=0\r\nm=audio 49217 RTP/AVP 18\r\n"),
            Err(Reject::NotAcceptable)
        );
        assert_eq!(f.answer(&info(), "garbage"), Err(Reject::NotAcceptable));
    }
}
