//! # zhenwei-sms-gateway — the SMS short-code channel
//!
//! People text a code to a short code and expect one short reply. This crate will hold the parser
//! that accepts what people actually type (bare codes, digits broken by spaces or dashes,
//! full-width digits, keywords such as 验证/CX/CHECK, several codes in one message, pasted GS1
//! Digital Link URLs, `举报`/`JB` reports, `帮助`/`HELP`, `TD`/`STOP`), the reply composer that fits
//! a verdict into one GSM-7 or UCS-2 segment (or concatenates with UDH), and two transports: an
//! SMPP 3.4 ESME session (a sans-I/O state machine driven by tokio) and HTTP inbound in the style
//! of Kannel's sms-service. Verdicts come from `zhenwei-core`.
//!
//! Built so far: [`coding`] (GSM-7 / UCS-2 coding, lengths and concatenated parts) and
//! [`smpp`] (the SMPP 3.4 ESME), [`outbound`] (unsolicited MTs over SMPP or Kannel's sendsms,
//! and the recall-notice sender) and [`receipts`] (delivery receipts into the outbound log).

pub mod coding;
pub mod gateway;
pub mod kannel;
pub mod outbound;
pub mod parse;
pub mod receipts;
pub mod reply;
pub mod smpp;

pub use gateway::{Gateway, GatewayConfig, GatewayError, Inbound, Outcome, Reply};
