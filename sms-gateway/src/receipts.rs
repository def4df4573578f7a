//! # Delivery receipts into the outbound log
//!
//! [`StoreReceipts`] is the [`ReceiptSink`] of `zhenwei serve`: the ESME calls it synchronously
//! from its event loop, so it only queues; one writer task applies the queue to the outbound log
//! ([`zhenwei_core::sms_mt`]) in order — a part's `submit_sm_resp` before its receipt, as they
//! arrived. [`dlr`] reads a Kannel DLR callback (`/v1/sms/dlr?mt=ID&type=N`) into the same log.

use tokio::sync::mpsc;
use zhenwei_core::codes::text::mask_phone;
use zhenwei_core::contacts::Contacts;
use zhenwei_core::numbers;
use zhenwei_core::sms_mt::{self, Recipient};
use zhenwei_core::store::Store;
use zhenwei_core::{Channel, Core};

use crate::outbound::KannelSender;
use crate::smpp::{Receipt, ReceiptSink};

enum Record {
    Submitted {
        tag: Option<u64>,
        message_id: String,
        to: String,
    },
    Receipt(Receipt),
}

/// Records accepted parts and receipts of the SMPP ESME.
pub struct StoreReceipts {
    tx: mpsc::UnboundedSender<Record>,
    /// Record accepted reply parts too (only worth it when receipts are asked for: otherwise no
    /// receipt will ever name them, and the writes would compete with the recorder's).
    replies: bool,
}

impl StoreReceipts {
    /// Starts the writer task (it ends when the sink is dropped). `replies`: also log accepted
    /// reply parts (set it when the ESME asks for delivery receipts).
    pub fn spawn(core: &Core, replies: bool) -> StoreReceipts {
        let (tx, mut rx) = mpsc::unbounded_channel::<Record>();
        let store = core.store.clone();
        let contacts = Contacts::new(core.store.clone(), core.keys.clone());
        tokio::spawn(async move {
            while let Some(r) = rx.recv().await {
                if let Err(e) = apply(&store, &contacts, r).await {
                    tracing::warn!(error = %e, "outbound log: a receipt could not be recorded");
                }
            }
        });
        StoreReceipts { tx, replies }
    }
}

async fn apply(
    store: &Store,
    contacts: &Contacts,
    r: Record,
) -> Result<(), zhenwei_core::store::StoreError> {
    match r {
        Record::Submitted {
            tag,
            message_id,
            to,
        } => {
            let recipient = Recipient {
                source_key: numbers::canonical(&to).map(|n| contacts.key(Channel::Sms, &n)),
                masked: mask_phone(&to),
            };
            let mt = tag.and_then(|t| i64::try_from(t).ok());
            sms_mt::submitted(store, mt, &recipient, "smpp", &message_id).await?;
        }
        Record::Receipt(r) => {
            sms_mt::receipt(
                store,
                &r.message_id,
                &r.stat,
                r.err.as_deref(),
                r.done_date.as_deref(),
            )
            .await?;
        }
    }
    Ok(())
}

impl ReceiptSink for StoreReceipts {
    fn on_receipt(&self, r: Receipt) {
        tracing::info!(message_id = %r.message_id, stat = %r.stat, "SMPP delivery receipt");
        let _ = self.tx.send(Record::Receipt(r));
    }

    fn on_submitted(&self, tag: Option<u64>, message_id: &str, to: &str) {
        if tag.is_none() && !self.replies {
            return;
        }
        let _ = self.tx.send(Record::Submitted {
            tag,
            message_id: message_id.to_owned(),
            to: to.to_owned(),
        });
    }
}

/// A Kannel delivery report, as its `dlr-url` callback delivers it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dlr {
    /// The outbound log id we put in the `dlr-url`.
    pub mt_id: i64,
    /// Kannel's DLR type: 1 delivered, 2 failed, 4 buffered, 8 SMSC accepted, 16 SMSC rejected.
    pub kind: u32,
}

impl Dlr {
    /// Reads `mt=..&type=..` from the callback's query string.
    pub fn parse(query: &str) -> Option<Dlr> {
        let pairs = crate::kannel::form_pairs(query.as_bytes()).ok()?;
        let get = |k: &str| {
            pairs
                .iter()
                .find(|(n, _)| n == k)
                .and_then(|(_, v)| std::str::from_utf8(v).ok())
                .map(|v| v.trim().to_owned())
        };
        Some(Dlr {
            mt_id: get("mt")?.parse().ok()?,
            kind: get("type")?.parse().ok()?,
        })
    }

    /// The state in the words of SMPP receipts.
    pub fn stat(&self) -> &'static str {
        match self.kind {
            1 => "DELIVRD",
            2 => "UNDELIV",
            4 => "ENROUTE",
            8 => "ACCEPTD",
            16 => "REJECTD",
            _ => "UNKNOWN",
        }
    }
}

/// Records a Kannel DLR callback; returns the message it settled, if known.
pub async fn dlr(store: &Store, d: &Dlr) -> Result<Option<i64>, zhenwei_core::store::StoreError> {
    sms_mt::receipt(
        store,
        &KannelSender::message_id(d.mt_id),
        d.stat(),
        None,
        None,
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dlr_callbacks_are_read() {
        assert_eq!(Dlr::parse("mt=12&type=1"), Some(Dlr { mt_id: 12, kind: 1 }));
        assert_eq!(
            Dlr::parse("mt=12&type=16").map(|d| d.stat()),
            Some("REJECTD")
        );
        assert_eq!(Dlr::parse("type=1"), None);
        assert_eq!(Dlr::parse("mt=x&type=1"), None);
        assert_eq!(Dlr::parse("%zz"), None);
    }
}
