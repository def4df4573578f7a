//! # SMPP 3.4 ESME — the gateway as a client of the operator's SMSC
//!
//! Operators hand short-code traffic to applications over SMPP: the application (the *ESME*)
//! opens a TCP connection to the operator's *SMSC*, binds as a transceiver with a system id and
//! password, receives mobile-originated messages as `deliver_sm` and sends replies as
//! `submit_sm`. Three layers, each testable on its own:
//!
//! - [`pdu`] — the wire format: framing, decoding (nom) and encoding of the PDUs used here.
//! - [`session`] — the sans-I/O state machine: bind, acknowledgements, window, rate limit,
//!   keep-alive, reassembly of concatenated MOs, timeouts. Bytes and time in, bytes and events out.
//! - [`esme`] — the tokio shell: connects, feeds the session, runs the [`MoHandler`] for each MO
//!   concurrently, reconnects with backoff.
//!
//! [`receipt`] reads delivery receipts; text coding and splitting live in [`crate::coding`].

pub mod esme;
pub mod pdu;
pub mod receipt;
pub mod session;

use std::future::Future;

pub use esme::{run, run_with, EsmeConfig};
pub use receipt::Receipt;
pub use session::{Backoff, Mo, Session, SessionConfig};

/// What the application does with a mobile-originated message.
///
/// `on_mo` returns when the message has been handled durably (the core recorded the query); the
/// ESME acknowledges the `deliver_sm` only then, so an MO is never lost to a crash or a dropped
/// connection (the SMSC redelivers unacknowledged ones). The returned text, if any, is sent back
/// to `from` from `to`.
pub trait MoHandler: Send + Sync + 'static {
    fn on_mo(
        &self,
        from: &str,
        to: &str,
        text: &str,
    ) -> impl Future<Output = Option<String>> + Send;
}

/// Where delivery receipts go (the store, a metric, a log).
pub trait ReceiptSink: Send + Sync + 'static {
    fn on_receipt(&self, receipt: Receipt);

    /// The SMSC accepted a part for `to` under `message_id`; `tag` is the outbound-log id of an
    /// unsolicited MT, `None` for a reply. Receipts for it will name `message_id`.
    fn on_submitted(&self, tag: Option<u64>, message_id: &str, to: &str) {
        let _ = (tag, message_id, to);
    }
}

/// A receipt sink that only logs (masked recipient).
#[derive(Debug, Default, Clone, Copy)]
pub struct LogReceipts;

impl ReceiptSink for LogReceipts {
    fn on_receipt(&self, r: Receipt) {
        tracing::info!(message_id = %r.message_id, stat = %r.stat, "SMPP delivery receipt");
    }
}
