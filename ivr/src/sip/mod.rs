//! SIP signalling for the hotline: an in-house, sans-I/O user agent server.
//!
//! The layers follow RFC 3261, bottom up, each a module with one job:
//!
//! - [`grammar`], [`uri`], [`headers`], [`message`]: bytes ⇄ messages. nom parsers for the
//!   grammar, framing per transport, the checks that decide whether a request can be answered
//!   at all (400, 505) — tested against every message of RFC 4475.
//! - [`transaction`]: server (and in-dialog client) transactions as state machines that take a
//!   message or a timer expiry and return what to send; retransmissions and timers A–K live here.
//! - [`uas`]: the user agent core and dialogs — what to answer to INVITE, ACK, BYE, CANCEL,
//!   OPTIONS, INFO and NOTIFY, when to say 403/405/416/420/481/483/501, and how a call asks for a
//!   transfer (REFER) or hangs up (BYE). It talks to the call side through [`call`].
//! - [`transport`]: the thin tokio shell that moves bytes between sockets (UDP, TCP, TLS) and the
//!   user agent, and turns its deadlines into timers.
//!
//! Nothing below `transport` reads a clock or touches a socket: time comes in as an argument, and
//! every input returns the actions to perform.

pub mod call;
pub mod grammar;
pub mod headers;
pub mod message;
pub mod transaction;
pub mod transport;
pub mod uas;
pub mod uri;
