//! # zhenwei-ivr — the phone hotline
//!
//! Callers dial the hotline; the carrier's SIP trunk delivers the call here. The crate is a set
//! of sans-I/O state machines (they take events — bytes, timer expiries, results — and return
//! actions, so every rule is a unit test without sockets or clocks) and thin tokio shells that
//! drive them:
//!
//! * [`sip`] — the SIP user agent server: parser, transactions, dialogs, transports, and the
//!   call seam the media side plugs into.
//! * [`sdp`] — SDP offer/answer: G.711 (PCMA/PCMU) and RFC 4733 telephone-event; hold.
//! * [`rtp`] — RTP packets, the 20 ms paced prompt sender, symmetric RTP.
//! * [`g711`] — A-law and µ-law sample encodings.
//! * [`dtmf`] — key presses from RFC 4733 events, SIP INFO bodies and in-band tones (Goertzel).
//! * [`menu`] — the voice menu: language → code → read-back → confirm → verdict → report /
//!   agent / repeat → goodbye; barge-in, and keys typed ahead of the verdict.
//! * [`prompts`] — the prerendered prompt audio and the spoken form of a verdict.
//! * [`call`] — one call's media and menu glued to the verification core; [`call::calls`] is
//!   what the SIP side talks to.
//!
//! Every verdict comes from `zhenwei-core`, the same engine every other channel uses; so do the
//! per-caller rate limit (`zhenwei_core::rate_limit`) and enumeration detection
//! (`Verifier::enumerating`).

pub mod call;
pub mod dtmf;
pub mod g711;
pub mod menu;
pub mod prompts;
pub mod rtp;
pub mod sdp;
pub mod sip;
