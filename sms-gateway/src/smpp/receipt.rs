//! # Delivery receipts
//!
//! When a `submit_sm` asks for one (`registered_delivery` = 1), the SMSC later sends a
//! `deliver_sm` whose `esm_class` says "delivery receipt" and whose text follows the informal
//! format of SMPP 3.4 Appendix B:
//!
//! ```text
//! id:0123456789 sub:001 dlvrd:001 submit date:2611210130 done date:2611210131 stat:DELIVRD err:000 text:...
//! ```
//!
//! SMPP 3.4 also defines TLVs for the two facts that matter (`receipted_message_id`,
//! `message_state`); when present they win over the text. [`Receipt::parse`] reads either.

use super::pdu::{tlv_tag, ShortMessage};

/// What the SMSC reported about one submitted message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    /// The `message_id` the SMSC returned in `submit_sm_resp`.
    pub message_id: String,
    /// Final state, as the receipt text spells it: DELIVRD, EXPIRED, DELETED, UNDELIV, ACCEPTD,
    /// UNKNOWN, REJECTD (or ENROUTE for intermediate receipts).
    pub stat: String,
    /// The network error code, when given.
    pub err: Option<String>,
    /// `done date` (YYMMDDhhmm, the SMSC's local time), when given.
    pub done_date: Option<String>,
    /// The handset the message was for (the receipt's source address).
    pub recipient: String,
}

/// `message_state` TLV values, spelled as in receipt texts.
fn state_name(state: u8) -> &'static str {
    match state {
        1 => "ENROUTE",
        2 => "DELIVRD",
        3 => "EXPIRED",
        4 => "DELETED",
        5 => "UNDELIV",
        6 => "ACCEPTD",
        8 => "REJECTD",
        _ => "UNKNOWN",
    }
}

/// The value after `key:` in a receipt text, up to the next space.
fn field<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    let lower = text.to_ascii_lowercase();
    let at = lower.find(&format!("{key}:"))?;
    let rest = text.get(at + key.len() + 1..)?;
    Some(rest.split(' ').next().unwrap_or(""))
}

impl Receipt {
    /// Reads a receipt from a `deliver_sm` flagged as one; `None` when neither the TLV nor the
    /// text names a message id.
    pub fn parse(sm: &ShortMessage, text: &str) -> Option<Receipt> {
        let tlv_id = sm.tlv(tlv_tag::RECEIPTED_MESSAGE_ID).map(|v| {
            let v = v.split(|&b| b == 0).next().unwrap_or(&[]);
            String::from_utf8_lossy(v).into_owned()
        });
        let message_id = tlv_id
            .filter(|id| !id.is_empty())
            .or_else(|| field(text, "id").map(str::to_owned))
            .filter(|id| !id.is_empty())?;
        let stat = sm
            .tlv(tlv_tag::MESSAGE_STATE)
            .and_then(|v| v.first().copied())
            .map(|s| state_name(s).to_owned())
            .or_else(|| field(text, "stat").map(str::to_ascii_uppercase))
            .unwrap_or_else(|| "UNKNOWN".to_owned());
        // "done date:2611210131": the key contains a space, so look for "date:" after "done".
        let done_date = text
            .to_ascii_lowercase()
            .find("done date:")
            .and_then(|at| text.get(at + "done date:".len()..))
            .and_then(|rest| rest.split(' ').next())
            .map(str::to_owned);
        Some(Receipt {
            message_id,
            stat,
            err: field(text, "err").map(str::to_owned),
            done_date,
            recipient: sm.source.addr.clone(),
        })
    }

    /// Whether the message reached the handset.
    pub fn delivered(&self) -> bool {
        self.stat == "DELIVRD"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::smpp::pdu::{Address, Tlv};

    fn sm() -> ShortMessage {
        ShortMessage {
            source: Address {
                ton: 1,
                npi: 1,
                addr: "8613800138000".into(),
            },
            esm_class: 0x04,
            ..ShortMessage::default()
        }
    }

    #[test]
    fn parses_the_appendix_b_text() {
        let text = "id:0A1B2C sub:001 dlvrd:001 submit date:2611210130 done date:2611210131 stat:DELIVRD err:000 text:Genuine";
        let r = Receipt::parse(&sm(), text).unwrap();
        assert_eq!(
            r,
            Receipt {
                message_id: "0A1B2C".into(),
                stat: "DELIVRD".into(),
                err: Some("000".into()),
                done_date: Some("2611210131".into()),
                recipient: "8613800138000".into(),
            }
        );
        assert!(r.delivered());
    }

    #[test]
    fn tlvs_win_over_the_text() {
        let mut m = sm();
        m.tlvs = vec![
            Tlv {
                tag: tlv_tag::RECEIPTED_MESSAGE_ID,
                value: b"XYZ\0".to_vec(),
            },
            Tlv {
                tag: tlv_tag::MESSAGE_STATE,
                value: vec![5],
            },
        ];
        let r = Receipt::parse(&m, "id:other stat:DELIVRD").unwrap();
        assert_eq!(r.message_id, "XYZ");
        assert_eq!(r.stat, "UNDELIV");
        assert!(!r.delivered());
    }

    #[test]
    fn garbage_is_not_a_receipt() {
        assert_eq!(Receipt::parse(&sm(), "hello"), None);
        assert_eq!(Receipt::parse(&sm(), "id: stat:DELIVRD"), None);
        let r = Receipt::parse(&sm(), "ID:77 STAT:expired").unwrap();
        assert_eq!((r.message_id.as_str(), r.stat.as_str()), ("77", "EXPIRED"));
        assert_eq!(r.err, None);
    }
}
