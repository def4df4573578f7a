//! # SMPP 3.4 PDUs: framing, decoding (nom) and encoding
//!
//! Every SMPP PDU starts with a 16-octet header of four big-endian `u32`s: `command_length`
//! (the whole PDU, header included), `command_id` (bit 31 set for responses), `command_status`
//! (0 = OK) and `sequence_number` (pairs a response with its request). The body is a fixed
//! sequence of fields — C-octet strings (NUL-terminated, with a maximum length), single octets,
//! and `sm_length` + octets for the message — followed by optional TLVs (tag, length, value).
//!
//! [`frame_len`] says whether a buffer holds a whole PDU (and rejects lengths below 16 or above
//! [`MAX_PDU_LEN`], which would let a peer make us buffer without bound). [`decode`] turns one
//! framed PDU into a [`Pdu`]; an unknown `command_id` is [`PduError::UnknownCommand`] carrying the
//! sequence number, so the session can answer `generic_nack`. [`Pdu::encode`] writes one out.
//! Only the PDUs an ESME in transceiver mode needs are modelled; every one round-trips.

use nom::bytes::complete::{tag, take, take_until};
use nom::number::complete::{be_u16, be_u32, u8 as octet};
use nom::{IResult, Parser};
use thiserror::Error;

/// Largest PDU accepted: a submit_sm/deliver_sm with a full `message_payload` TLV fits easily.
pub const MAX_PDU_LEN: usize = 64 * 1024;
/// Size of the PDU header.
pub const HEADER_LEN: usize = 16;
/// SMPP interface version 3.4.
pub const INTERFACE_VERSION: u8 = 0x34;

/// `command_id` values.
pub mod command {
    pub const GENERIC_NACK: u32 = 0x8000_0000;
    pub const BIND_TRANSCEIVER: u32 = 0x0000_0009;
    pub const BIND_TRANSCEIVER_RESP: u32 = 0x8000_0009;
    pub const SUBMIT_SM: u32 = 0x0000_0004;
    pub const SUBMIT_SM_RESP: u32 = 0x8000_0004;
    pub const DELIVER_SM: u32 = 0x0000_0005;
    pub const DELIVER_SM_RESP: u32 = 0x8000_0005;
    pub const UNBIND: u32 = 0x0000_0006;
    pub const UNBIND_RESP: u32 = 0x8000_0006;
    pub const ENQUIRE_LINK: u32 = 0x0000_0015;
    pub const ENQUIRE_LINK_RESP: u32 = 0x8000_0015;
}

/// `command_status` values used here.
pub mod status {
    pub const OK: u32 = 0x0000_0000;
    /// Message length is invalid.
    pub const INVALID_MSG_LEN: u32 = 0x0000_0001;
    /// Command length is invalid.
    pub const INVALID_CMD_LEN: u32 = 0x0000_0002;
    /// Invalid command ID.
    pub const INVALID_CMD_ID: u32 = 0x0000_0003;
    /// Incorrect bind status for the given command.
    pub const INVALID_BIND_STATUS: u32 = 0x0000_0004;
    /// System error.
    pub const SYSTEM_ERROR: u32 = 0x0000_0008;
    /// Message queue full.
    pub const MSG_Q_FULL: u32 = 0x0000_0014;
    /// Throttling error (the ESME exceeded allowed message limits).
    pub const THROTTLED: u32 = 0x0000_0058;
    /// Bind failed.
    pub const BIND_FAILED: u32 = 0x0000_000D;
    /// Invalid password.
    pub const INVALID_PASSWORD: u32 = 0x0000_000E;
}

/// Optional parameter tags used here.
pub mod tlv_tag {
    pub const RECEIPTED_MESSAGE_ID: u16 = 0x001E;
    pub const SAR_MSG_REF_NUM: u16 = 0x020C;
    pub const SAR_TOTAL_SEGMENTS: u16 = 0x020E;
    pub const SAR_SEGMENT_SEQNUM: u16 = 0x020F;
    pub const MESSAGE_PAYLOAD: u16 = 0x0424;
    pub const MESSAGE_STATE: u16 = 0x0427;
    pub const SC_INTERFACE_VERSION: u16 = 0x0210;
}

/// Why bytes are not a valid PDU.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PduError {
    /// `command_length` below the header size or above [`MAX_PDU_LEN`]: the stream cannot be
    /// resynchronised, so the connection must close.
    #[error("command_length {0} is out of range")]
    BadLength(u32),
    /// A `command_id` this ESME does not know; answer with `generic_nack`.
    #[error("unknown command_id {id:#010x}")]
    UnknownCommand { id: u32, sequence: u32 },
    /// The body does not match the command's layout (truncated, string too long, trailing
    /// garbage in a TLV); answer with `generic_nack` or an error response.
    #[error("malformed {command:#010x} body: {reason}")]
    Malformed {
        command: u32,
        sequence: u32,
        reason: &'static str,
    },
    /// A string field is not ASCII/UTF-8.
    #[error("a string field of {command:#010x} is not text")]
    NotText { command: u32, sequence: u32 },
}

impl PduError {
    /// The sequence number of the offending PDU, when the header was readable.
    pub fn sequence(&self) -> Option<u32> {
        match self {
            PduError::BadLength(_) => None,
            PduError::UnknownCommand { sequence, .. }
            | PduError::Malformed { sequence, .. }
            | PduError::NotText { sequence, .. } => Some(*sequence),
        }
    }

    /// The status to put in the `generic_nack` answering this error.
    pub fn nack_status(&self) -> u32 {
        match self {
            PduError::BadLength(_) => status::INVALID_CMD_LEN,
            PduError::UnknownCommand { .. } => status::INVALID_CMD_ID,
            PduError::Malformed { .. } | PduError::NotText { .. } => status::INVALID_MSG_LEN,
        }
    }
}

/// A type-of-number / numbering-plan / address triple.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Address {
    pub ton: u8,
    pub npi: u8,
    pub addr: String,
}

/// One optional parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tlv {
    pub tag: u16,
    pub value: Vec<u8>,
}

/// The `bind_transceiver` body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bind {
    pub system_id: String,
    pub password: String,
    pub system_type: String,
    pub interface_version: u8,
    pub addr_ton: u8,
    pub addr_npi: u8,
    pub address_range: String,
}

/// The body shared by `submit_sm` and `deliver_sm`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ShortMessage {
    pub service_type: String,
    pub source: Address,
    pub dest: Address,
    pub esm_class: u8,
    pub protocol_id: u8,
    pub priority_flag: u8,
    pub schedule_delivery_time: String,
    pub validity_period: String,
    pub registered_delivery: u8,
    pub replace_if_present: u8,
    pub data_coding: u8,
    pub sm_default_msg_id: u8,
    pub short_message: Vec<u8>,
    pub tlvs: Vec<Tlv>,
}

/// `esm_class` bit: the message starts with a user data header.
pub const ESM_UDHI: u8 = 0x40;
/// `esm_class` message-type bits (5..2).
pub const ESM_TYPE_MASK: u8 = 0x3C;
/// `esm_class` message type: SMSC delivery receipt.
pub const ESM_TYPE_RECEIPT: u8 = 0x04;

impl ShortMessage {
    /// The first TLV with `tag`.
    pub fn tlv(&self, tag: u16) -> Option<&[u8]> {
        self.tlvs
            .iter()
            .find(|t| t.tag == tag)
            .map(|t| t.value.as_slice())
    }

    /// The message octets: `short_message`, or the `message_payload` TLV when that is empty.
    pub fn payload(&self) -> &[u8] {
        if self.short_message.is_empty() {
            self.tlv(tlv_tag::MESSAGE_PAYLOAD).unwrap_or(&[])
        } else {
            &self.short_message
        }
    }

    /// Whether this deliver_sm is a delivery receipt rather than a mobile-originated message.
    pub fn is_receipt(&self) -> bool {
        self.esm_class & ESM_TYPE_MASK == ESM_TYPE_RECEIPT
    }
}

/// The PDUs this ESME sends or understands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body {
    GenericNack,
    BindTransceiver(Bind),
    BindTransceiverResp { system_id: String, tlvs: Vec<Tlv> },
    SubmitSm(ShortMessage),
    SubmitSmResp { message_id: String },
    DeliverSm(ShortMessage),
    DeliverSmResp { message_id: String },
    Unbind,
    UnbindResp,
    EnquireLink,
    EnquireLinkResp,
}

impl Body {
    /// This body's `command_id`.
    pub fn command_id(&self) -> u32 {
        use command::*;
        match self {
            Body::GenericNack => GENERIC_NACK,
            Body::BindTransceiver(_) => BIND_TRANSCEIVER,
            Body::BindTransceiverResp { .. } => BIND_TRANSCEIVER_RESP,
            Body::SubmitSm(_) => SUBMIT_SM,
            Body::SubmitSmResp { .. } => SUBMIT_SM_RESP,
            Body::DeliverSm(_) => DELIVER_SM,
            Body::DeliverSmResp { .. } => DELIVER_SM_RESP,
            Body::Unbind => UNBIND,
            Body::UnbindResp => UNBIND_RESP,
            Body::EnquireLink => ENQUIRE_LINK,
            Body::EnquireLinkResp => ENQUIRE_LINK_RESP,
        }
    }
}

/// One PDU: header fields plus body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pdu {
    pub status: u32,
    pub sequence: u32,
    pub body: Body,
}

/// If `buf` starts with a whole PDU, its length; `Ok(None)` when more bytes are needed.
pub fn frame_len(buf: &[u8]) -> Result<Option<usize>, PduError> {
    let Some(head) = buf.get(..4) else {
        return Ok(None);
    };
    let len = u32::from_be_bytes([
        head.first().copied().unwrap_or(0),
        head.get(1).copied().unwrap_or(0),
        head.get(2).copied().unwrap_or(0),
        head.get(3).copied().unwrap_or(0),
    ]);
    let n = usize::try_from(len).map_err(|_| PduError::BadLength(len))?;
    if !(HEADER_LEN..=MAX_PDU_LEN).contains(&n) {
        return Err(PduError::BadLength(len));
    }
    Ok((buf.len() >= n).then_some(n))
}

/// Field limits (maximum octets including the NUL) from the SMPP 3.4 specification.
mod limit {
    pub const SYSTEM_ID: usize = 16;
    pub const PASSWORD: usize = 9;
    pub const SYSTEM_TYPE: usize = 13;
    pub const ADDRESS_RANGE: usize = 41;
    pub const SERVICE_TYPE: usize = 6;
    pub const ADDR: usize = 21;
    pub const TIME: usize = 17;
    pub const MESSAGE_ID: usize = 65;
}

type Res<'a, T> = IResult<&'a [u8], T>;

/// A C-octet string of at most `max` octets including the terminating NUL.
fn c_string(max: usize) -> impl Fn(&[u8]) -> Res<'_, &[u8]> {
    move |input| {
        let (rest, s) = take_until(&b"\0"[..]).parse(input)?;
        if s.len() + 1 > max {
            return Err(nom::Err::Failure(nom::error::Error::new(
                input,
                nom::error::ErrorKind::TooLarge,
            )));
        }
        let (rest, _) = tag(&b"\0"[..]).parse(rest)?;
        Ok((rest, s))
    }
}

fn address(max: usize) -> impl Fn(&[u8]) -> Res<'_, (u8, u8, &[u8])> {
    move |input| (octet, octet, c_string(max)).parse(input)
}

fn tlvs(mut input: &[u8]) -> Res<'_, Vec<(u16, &[u8])>> {
    let mut out = Vec::new();
    while !input.is_empty() {
        let (rest, (t, len)) = (be_u16, be_u16).parse(input)?;
        let (rest, value) = take(len).parse(rest)?;
        out.push((t, value));
        input = rest;
    }
    Ok((input, out))
}

struct RawBind<'a> {
    system_id: &'a [u8],
    password: &'a [u8],
    system_type: &'a [u8],
    interface_version: u8,
    addr_ton: u8,
    addr_npi: u8,
    address_range: &'a [u8],
}

fn bind_body(input: &[u8]) -> Res<'_, RawBind<'_>> {
    let (rest, (system_id, password, system_type, interface_version, (addr_ton, addr_npi, range))) =
        (
            c_string(limit::SYSTEM_ID),
            c_string(limit::PASSWORD),
            c_string(limit::SYSTEM_TYPE),
            octet,
            address(limit::ADDRESS_RANGE),
        )
            .parse(input)?;
    Ok((
        rest,
        RawBind {
            system_id,
            password,
            system_type,
            interface_version,
            addr_ton,
            addr_npi,
            address_range: range,
        },
    ))
}

type RawSm<'a> = (
    &'a [u8],
    (u8, u8, &'a [u8]),
    (u8, u8, &'a [u8]),
    [u8; 3],
    &'a [u8],
    &'a [u8],
    [u8; 4],
    &'a [u8],
    Vec<(u16, &'a [u8])>,
);

fn sm_body(input: &[u8]) -> Res<'_, RawSm<'_>> {
    let (rest, (service_type, source, dest, esm, proto, prio)) = (
        c_string(limit::SERVICE_TYPE),
        address(limit::ADDR),
        address(limit::ADDR),
        octet,
        octet,
        octet,
    )
        .parse(input)?;
    let (rest, (schedule, validity, reg, replace, dc, default_id, sm_len)) = (
        c_string(limit::TIME),
        c_string(limit::TIME),
        octet,
        octet,
        octet,
        octet,
        octet,
    )
        .parse(rest)?;
    let (rest, message) = take(sm_len).parse(rest)?;
    let (rest, tlv) = tlvs(rest)?;
    Ok((
        rest,
        (
            service_type,
            source,
            dest,
            [esm, proto, prio],
            schedule,
            validity,
            [reg, replace, dc, default_id],
            message,
            tlv,
        ),
    ))
}

/// Decodes one whole PDU (exactly `command_length` octets, as [`frame_len`] delimits).
pub fn decode(pdu: &[u8]) -> Result<Pdu, PduError> {
    let header: Res<'_, (u32, u32, u32, u32)> = (be_u32, be_u32, be_u32, be_u32).parse(pdu);
    let Ok((body, (len, id, st, seq))) = header else {
        return Err(PduError::BadLength(
            u32::try_from(pdu.len()).unwrap_or(u32::MAX),
        ));
    };
    if usize::try_from(len).ok() != Some(pdu.len()) {
        return Err(PduError::BadLength(len));
    }
    let malformed = |reason| PduError::Malformed {
        command: id,
        sequence: seq,
        reason,
    };
    let text = |b: &[u8]| -> Result<String, PduError> {
        std::str::from_utf8(b)
            .map(str::to_owned)
            .map_err(|_| PduError::NotText {
                command: id,
                sequence: seq,
            })
    };
    let empty = |b: &[u8]| -> Result<(), PduError> {
        if b.is_empty() {
            Ok(())
        } else {
            Err(malformed("unexpected body"))
        }
    };
    let owned_tlvs = |v: Vec<(u16, &[u8])>| -> Vec<Tlv> {
        v.into_iter()
            .map(|(tag, value)| Tlv {
                tag,
                value: value.to_vec(),
            })
            .collect()
    };
    let sm = |b: &[u8]| -> Result<ShortMessage, PduError> {
        let (_, f) = sm_body(b).map_err(|_| malformed("short message fields"))?;
        let (service_type, source, dest, [esm, proto, prio], sched, valid, flags, msg, tl) = f;
        let [reg, replace, dc, default_id] = flags;
        Ok(ShortMessage {
            service_type: text(service_type)?,
            source: Address {
                ton: source.0,
                npi: source.1,
                addr: text(source.2)?,
            },
            dest: Address {
                ton: dest.0,
                npi: dest.1,
                addr: text(dest.2)?,
            },
            esm_class: esm,
            protocol_id: proto,
            priority_flag: prio,
            schedule_delivery_time: text(sched)?,
            validity_period: text(valid)?,
            registered_delivery: reg,
            replace_if_present: replace,
            data_coding: dc,
            sm_default_msg_id: default_id,
            short_message: msg.to_vec(),
            tlvs: owned_tlvs(tl),
        })
    };
    // Responses with an error status may omit their body (SMPP 3.4 §3.3).
    let message_id = |b: &[u8]| -> Result<String, PduError> {
        if b.is_empty() && st != status::OK {
            return Ok(String::new());
        }
        let (rest, s) = c_string(limit::MESSAGE_ID)(b).map_err(|_| malformed("message_id"))?;
        empty(rest)?;
        text(s)
    };
    let body = match id {
        command::GENERIC_NACK => empty(body).map(|_| Body::GenericNack)?,
        command::BIND_TRANSCEIVER => {
            let (rest, b) = bind_body(body).map_err(|_| malformed("bind fields"))?;
            empty(rest)?;
            Body::BindTransceiver(Bind {
                system_id: text(b.system_id)?,
                password: text(b.password)?,
                system_type: text(b.system_type)?,
                interface_version: b.interface_version,
                addr_ton: b.addr_ton,
                addr_npi: b.addr_npi,
                address_range: text(b.address_range)?,
            })
        }
        command::BIND_TRANSCEIVER_RESP => {
            if body.is_empty() && st != status::OK {
                Body::BindTransceiverResp {
                    system_id: String::new(),
                    tlvs: Vec::new(),
                }
            } else {
                let (rest, s) =
                    c_string(limit::SYSTEM_ID)(body).map_err(|_| malformed("system_id"))?;
                let (_, tl) = tlvs(rest).map_err(|_| malformed("optional parameters"))?;
                Body::BindTransceiverResp {
                    system_id: text(s)?,
                    tlvs: owned_tlvs(tl),
                }
            }
        }
        command::SUBMIT_SM => Body::SubmitSm(sm(body)?),
        command::SUBMIT_SM_RESP => Body::SubmitSmResp {
            message_id: message_id(body)?,
        },
        command::DELIVER_SM => Body::DeliverSm(sm(body)?),
        command::DELIVER_SM_RESP => Body::DeliverSmResp {
            message_id: message_id(body)?,
        },
        command::UNBIND => empty(body).map(|_| Body::Unbind)?,
        command::UNBIND_RESP => empty(body).map(|_| Body::UnbindResp)?,
        command::ENQUIRE_LINK => empty(body).map(|_| Body::EnquireLink)?,
        command::ENQUIRE_LINK_RESP => empty(body).map(|_| Body::EnquireLinkResp)?,
        other => {
            return Err(PduError::UnknownCommand {
                id: other,
                sequence: seq,
            })
        }
    };
    Ok(Pdu {
        status: st,
        sequence: seq,
        body,
    })
}

/// Why a PDU could not be encoded (a field exceeds its SMPP limit).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("field {field} is too long for SMPP ({len} octets, at most {max})")]
pub struct EncodeError {
    pub field: &'static str,
    pub len: usize,
    pub max: usize,
}

struct Writer {
    buf: Vec<u8>,
}

impl Writer {
    fn c_string(&mut self, field: &'static str, s: &str, max: usize) -> Result<(), EncodeError> {
        if s.len() + 1 > max || s.as_bytes().contains(&0) {
            return Err(EncodeError {
                field,
                len: s.len() + 1,
                max,
            });
        }
        self.buf.extend_from_slice(s.as_bytes());
        self.buf.push(0);
        Ok(())
    }

    fn octet(&mut self, v: u8) {
        self.buf.push(v);
    }

    fn address(&mut self, field: &'static str, a: &Address, max: usize) -> Result<(), EncodeError> {
        self.octet(a.ton);
        self.octet(a.npi);
        self.c_string(field, &a.addr, max)
    }

    fn tlvs(&mut self, tlvs: &[Tlv]) -> Result<(), EncodeError> {
        for t in tlvs {
            let len = u16::try_from(t.value.len()).map_err(|_| EncodeError {
                field: "tlv",
                len: t.value.len(),
                max: usize::from(u16::MAX),
            })?;
            self.buf.extend_from_slice(&t.tag.to_be_bytes());
            self.buf.extend_from_slice(&len.to_be_bytes());
            self.buf.extend_from_slice(&t.value);
        }
        Ok(())
    }

    fn sm(&mut self, m: &ShortMessage) -> Result<(), EncodeError> {
        self.c_string("service_type", &m.service_type, limit::SERVICE_TYPE)?;
        self.address("source_addr", &m.source, limit::ADDR)?;
        self.address("destination_addr", &m.dest, limit::ADDR)?;
        self.octet(m.esm_class);
        self.octet(m.protocol_id);
        self.octet(m.priority_flag);
        self.c_string(
            "schedule_delivery_time",
            &m.schedule_delivery_time,
            limit::TIME,
        )?;
        self.c_string("validity_period", &m.validity_period, limit::TIME)?;
        self.octet(m.registered_delivery);
        self.octet(m.replace_if_present);
        self.octet(m.data_coding);
        self.octet(m.sm_default_msg_id);
        let len = u8::try_from(m.short_message.len())
            .ok()
            .filter(|&n| n <= 254)
            .ok_or(EncodeError {
                field: "short_message",
                len: m.short_message.len(),
                max: 254,
            })?;
        self.octet(len);
        self.buf.extend_from_slice(&m.short_message);
        self.tlvs(&m.tlvs)
    }
}

impl Pdu {
    /// A request or response with status OK.
    pub fn new(sequence: u32, body: Body) -> Pdu {
        Pdu {
            status: status::OK,
            sequence,
            body,
        }
    }

    /// Appends the encoded PDU to `out`.
    pub fn encode_into(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        let start = out.len();
        let mut w = Writer {
            buf: std::mem::take(out),
        };
        w.buf.extend_from_slice(&[0; 4]);
        w.buf
            .extend_from_slice(&self.body.command_id().to_be_bytes());
        w.buf.extend_from_slice(&self.status.to_be_bytes());
        w.buf.extend_from_slice(&self.sequence.to_be_bytes());
        let result = match &self.body {
            Body::GenericNack
            | Body::Unbind
            | Body::UnbindResp
            | Body::EnquireLink
            | Body::EnquireLinkResp => Ok(()),
            Body::BindTransceiver(b) => (|| {
                w.c_string("system_id", &b.system_id, limit::SYSTEM_ID)?;
                w.c_string("password", &b.password, limit::PASSWORD)?;
                w.c_string("system_type", &b.system_type, limit::SYSTEM_TYPE)?;
                w.octet(b.interface_version);
                w.octet(b.addr_ton);
                w.octet(b.addr_npi);
                w.c_string("address_range", &b.address_range, limit::ADDRESS_RANGE)
            })(),
            Body::BindTransceiverResp { system_id, tlvs } => w
                .c_string("system_id", system_id, limit::SYSTEM_ID)
                .and_then(|_| w.tlvs(tlvs)),
            Body::SubmitSm(m) | Body::DeliverSm(m) => w.sm(m),
            Body::SubmitSmResp { message_id } | Body::DeliverSmResp { message_id } => {
                w.c_string("message_id", message_id, limit::MESSAGE_ID)
            }
        };
        let mut buf = w.buf;
        if let Err(e) = result {
            buf.truncate(start);
            *out = buf;
            return Err(e);
        }
        let len = buf.len() - start;
        let Ok(len32) = u32::try_from(len).map(u32::to_be_bytes) else {
            buf.truncate(start);
            *out = buf;
            return Err(EncodeError {
                field: "pdu",
                len,
                max: MAX_PDU_LEN,
            });
        };
        if let Some(slot) = buf.get_mut(start..start + 4) {
            slot.copy_from_slice(&len32);
        }
        *out = buf;
        Ok(())
    }

    /// The encoded PDU.
    pub fn encode(&self) -> Result<Vec<u8>, EncodeError> {
        let mut out = Vec::new();
        self.encode_into(&mut out)?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn deliver() -> ShortMessage {
        ShortMessage {
            source: Address {
                ton: 1,
                npi: 1,
                addr: "8613800138000".into(),
            },
            dest: Address {
                ton: 0,
                npi: 0,
                addr: "10690000".into(),
            },
            data_coding: 8,
            short_message: vec![0x77, 0x1F, 0x4F, 0x2A],
            tlvs: vec![Tlv {
                tag: tlv_tag::SAR_MSG_REF_NUM,
                value: vec![0, 7],
            }],
            ..ShortMessage::default()
        }
    }

    fn all_pdus() -> Vec<Pdu> {
        vec![
            Pdu::new(1, Body::GenericNack),
            Pdu::new(
                2,
                Body::BindTransceiver(Bind {
                    system_id: "zhenwei".into(),
                    password: "secret".into(),
                    system_type: "VMA".into(),
                    interface_version: INTERFACE_VERSION,
                    addr_ton: 0,
                    addr_npi: 0,
                    address_range: String::new(),
                }),
            ),
            Pdu::new(
                2,
                Body::BindTransceiverResp {
                    system_id: "SMSC".into(),
                    tlvs: vec![Tlv {
                        tag: tlv_tag::SC_INTERFACE_VERSION,
                        value: vec![0x34],
                    }],
                },
            ),
            Pdu::new(3, Body::SubmitSm(deliver())),
            Pdu::new(
                3,
                Body::SubmitSmResp {
                    message_id: "abc123".into(),
                },
            ),
            Pdu::new(4, Body::DeliverSm(deliver())),
            Pdu::new(
                4,
                Body::DeliverSmResp {
                    message_id: String::new(),
                },
            ),
            Pdu::new(5, Body::Unbind),
            Pdu::new(5, Body::UnbindResp),
            Pdu::new(6, Body::EnquireLink),
            Pdu::new(u32::MAX, Body::EnquireLinkResp),
        ]
    }

    #[test]
    fn every_pdu_round_trips() {
        for pdu in all_pdus() {
            let bytes = pdu.encode().unwrap();
            assert_eq!(frame_len(&bytes).unwrap(), Some(bytes.len()));
            assert_eq!(decode(&bytes).unwrap(), pdu, "{pdu:?}");
        }
    }

    #[test]
    fn enquire_link_bytes_match_the_specification() {
        let bytes = Pdu::new(7, Body::EnquireLink).encode().unwrap();
        assert_eq!(bytes, [0, 0, 0, 16, 0, 0, 0, 0x15, 0, 0, 0, 0, 0, 0, 0, 7]);
    }

    #[test]
    fn submit_sm_layout() {
        let m = ShortMessage {
            source: Address {
                ton: 0,
                npi: 0,
                addr: "1".into(),
            },
            dest: Address {
                ton: 1,
                npi: 1,
                addr: "2".into(),
            },
            short_message: b"Hi".to_vec(),
            ..ShortMessage::default()
        };
        let bytes = Pdu::new(1, Body::SubmitSm(m)).encode().unwrap();
        let body = &bytes[16..];
        assert_eq!(
            body,
            [0, 0, 0, b'1', 0, 1, 1, b'2', 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, b'H', b'i']
        );
    }

    #[test]
    fn error_responses_may_omit_the_body() {
        let mut bytes = vec![0, 0, 0, 16];
        bytes.extend(command::SUBMIT_SM_RESP.to_be_bytes());
        bytes.extend(status::THROTTLED.to_be_bytes());
        bytes.extend(9u32.to_be_bytes());
        let pdu = decode(&bytes).unwrap();
        assert_eq!(pdu.status, status::THROTTLED);
        assert_eq!(
            pdu.body,
            Body::SubmitSmResp {
                message_id: String::new()
            }
        );
    }

    #[test]
    fn framing_waits_for_whole_pdus_and_rejects_bad_lengths() {
        let bytes = Pdu::new(6, Body::EnquireLink).encode().unwrap();
        assert_eq!(frame_len(&bytes[..3]).unwrap(), None);
        assert_eq!(frame_len(&bytes[..10]).unwrap(), None);
        assert_eq!(frame_len(&[0, 0, 0, 15]), Err(PduError::BadLength(15)));
        assert_eq!(frame_len(&[0, 1, 0, 1]), Err(PduError::BadLength(65537)));
        assert_eq!(
            frame_len(&[0xFF, 0xFF, 0xFF, 0xFF]),
            Err(PduError::BadLength(u32::MAX))
        );
    }

    #[test]
    fn unknown_commands_keep_their_sequence_for_generic_nack() {
        let mut bytes = vec![0, 0, 0, 16];
        bytes.extend(0x0000_0103u32.to_be_bytes()); // data_sm
        bytes.extend(0u32.to_be_bytes());
        bytes.extend(42u32.to_be_bytes());
        let err = decode(&bytes).unwrap_err();
        assert_eq!(
            err,
            PduError::UnknownCommand {
                id: 0x103,
                sequence: 42
            }
        );
        assert_eq!(err.sequence(), Some(42));
        assert_eq!(err.nack_status(), status::INVALID_CMD_ID);
    }

    #[test]
    fn truncated_and_malformed_bodies_are_errors() {
        let full = Pdu::new(4, Body::DeliverSm(deliver())).encode().unwrap();
        for cut in HEADER_LEN..full.len() {
            let mut b = full[..cut].to_vec();
            b[..4].copy_from_slice(&(cut as u32).to_be_bytes());
            // A cut inside the TLVs or message is malformed, never a panic. (A cut exactly at a
            // TLV boundary is a valid shorter PDU.)
            let _ = decode(&b);
        }
        let mut b = full[..HEADER_LEN + 5].to_vec();
        b[..4].copy_from_slice(&((HEADER_LEN + 5) as u32).to_be_bytes());
        assert!(matches!(
            decode(&b),
            Err(PduError::Malformed { sequence: 4, .. })
        ));
        // enquire_link with a body.
        let mut b = Pdu::new(6, Body::EnquireLink).encode().unwrap();
        b.push(0);
        b[..4].copy_from_slice(&17u32.to_be_bytes());
        assert!(matches!(decode(&b), Err(PduError::Malformed { .. })));
        // command_length disagreeing with the buffer.
        let b = Pdu::new(6, Body::EnquireLink).encode().unwrap();
        assert_eq!(decode(&b[..15]), Err(PduError::BadLength(15)));
    }

    #[test]
    fn overlong_strings_are_rejected_both_ways() {
        let mut bind = Bind {
            system_id: "x".repeat(16),
            password: String::new(),
            system_type: String::new(),
            interface_version: INTERFACE_VERSION,
            addr_ton: 0,
            addr_npi: 0,
            address_range: String::new(),
        };
        let err = Pdu::new(1, Body::BindTransceiver(bind.clone()))
            .encode()
            .unwrap_err();
        assert_eq!(err.field, "system_id");
        bind.system_id = "x".repeat(15);
        let mut bytes = Pdu::new(1, Body::BindTransceiver(bind)).encode().unwrap();
        // Replace the NUL after system_id with one more 'x': 16 octets + NUL is too long.
        bytes[16 + 15] = b'x';
        bytes.insert(16 + 16, 0);
        let n = bytes.len() as u32;
        bytes[..4].copy_from_slice(&n.to_be_bytes());
        assert!(matches!(decode(&bytes), Err(PduError::Malformed { .. })));
    }

    #[test]
    fn short_message_over_254_octets_is_refused() {
        let m = ShortMessage {
            short_message: vec![0; 255],
            ..ShortMessage::default()
        };
        assert_eq!(
            Pdu::new(1, Body::SubmitSm(m)).encode().unwrap_err().field,
            "short_message"
        );
    }

    #[test]
    fn payload_falls_back_to_message_payload_tlv() {
        let mut m = deliver();
        m.short_message.clear();
        m.tlvs.push(Tlv {
            tag: tlv_tag::MESSAGE_PAYLOAD,
            value: b"long".to_vec(),
        });
        assert_eq!(m.payload(), b"long");
        assert!(!m.is_receipt());
        m.esm_class = ESM_TYPE_RECEIPT;
        assert!(m.is_receipt());
    }

    fn ascii(max: usize) -> impl Strategy<Value = String> {
        proptest::string::string_regex(&format!("[ -~]{{0,{max}}}")).unwrap()
    }

    prop_compose! {
        fn arb_sm()(
            service_type in ascii(5), src in ascii(20), dst in ascii(20),
            octets in any::<[u8; 10]>(), msg in proptest::collection::vec(any::<u8>(), 0..=254),
            tlvs in proptest::collection::vec((any::<u16>(), proptest::collection::vec(any::<u8>(), 0..40)), 0..4),
        ) -> ShortMessage {
            ShortMessage {
                service_type,
                source: Address { ton: octets[0], npi: octets[1], addr: src },
                dest: Address { ton: octets[2], npi: octets[3], addr: dst },
                esm_class: octets[4], protocol_id: octets[5], priority_flag: octets[6],
                schedule_delivery_time: String::new(), validity_period: "000001000000000R".into(),
                registered_delivery: octets[7], replace_if_present: octets[8], data_coding: octets[9],
                sm_default_msg_id: 0, short_message: msg,
                tlvs: tlvs.into_iter().map(|(tag, value)| Tlv { tag, value }).collect(),
            }
        }
    }

    proptest! {
        #[test]
        fn random_short_messages_round_trip(sm in arb_sm(), seq in any::<u32>(), deliver in any::<bool>()) {
            let body = if deliver { Body::DeliverSm(sm) } else { Body::SubmitSm(sm) };
            let pdu = Pdu::new(seq, body);
            let bytes = pdu.encode().unwrap();
            prop_assert_eq!(decode(&bytes).unwrap(), pdu);
        }

        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
            if let Ok(Some(n)) = frame_len(&bytes) {
                let _ = decode(&bytes[..n]);
            }
            let _ = decode(&bytes);
        }

        #[test]
        fn random_bodies_behind_valid_headers_never_panic(
            id in prop_oneof![Just(4u32), Just(5), Just(9), Just(0x8000_0009), Just(0x8000_0004), Just(0x15), any::<u32>()],
            body in proptest::collection::vec(any::<u8>(), 0..300),
        ) {
            let mut b = ((HEADER_LEN + body.len()) as u32).to_be_bytes().to_vec();
            b.extend(id.to_be_bytes());
            b.extend(0u32.to_be_bytes());
            b.extend(1u32.to_be_bytes());
            b.extend(&body);
            let _ = decode(&b);
        }
    }
}
