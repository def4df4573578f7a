//! # zhenwei-ivr — the phone hotline
//!
//! Callers dial the hotline; the carrier's SIP trunk delivers the call here. This crate holds
//! a sans-I/O SIP user agent server (transactions and dialogs as state machines that take events
//! and return actions, [`sip`]), SDP offer/answer for G.711 and telephone-event, RTP playback of
//! prerendered prompts paced at 20 ms, DTMF detection (RFC 4733 events, SIP INFO, in-band
//! Goertzel), and the voice menu: language → "enter the code, then #" → read-back → confirm →
//! verdict → report / agent / repeat. A thin tokio shell drives those machines over UDP, TCP and
//! TLS; every verdict comes from `zhenwei-core`, the same engine every other channel uses.

pub mod sip;
