//! # Sending an SMS nobody asked for
//!
//! A reply rides on the MO it answers; an *unsolicited* MT — a recall notice — starts on our
//! side. [`SmsSender`] is the one interface the rest of the code uses for that, with two
//! transports:
//!
//! - [`SmppSender`] hands the message to the running ESME (`smpp::esme::run_with`) through a
//!   channel; the session splits it (UDH when long), respects the window and the send-rate limit
//!   like any reply, and the answer comes back when every part has its `submit_sm_resp`.
//! - [`KannelSender`] calls Kannel's `sendsms` HTTP interface on smsbox (`sendsms-port`, a
//!   `sendsms-user`), asking for delivery reports at our `dlr-url` (`/v1/sms/dlr`).
//!
//! Every message is recorded in the outbound log ([`zhenwei_core::sms_mt`]) *before* it is
//! handed over, and its id goes with it (the SMPP tag, the `dlr-url`): that is what links
//! receipts to it and what settles a send interrupted by a crash.
//!
//! [`RecallNotices`] is the recall-notice sender of issue 8 built on it: it reads the consumer's
//! number and opt-out flag at send time, records the MT, sends, and tells the outbox what
//! happened ([`Delivery`]).

use std::future::Future;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};
use zhenwei_core::codes::text::mask_phone;
use zhenwei_core::contacts::Contacts;
use zhenwei_core::feeds::outbox::{Delivery, RecallNotice, RecallSender};
use zhenwei_core::sms_mt::{self, Purpose, Recipient};
use zhenwei_core::store::Store;
use zhenwei_core::{Core, Lang};

/// What became of one message handed to a transport.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SendOutcome {
    /// The SMSC (or Kannel) took it, under these message ids (one per part). `recorded`: the
    /// transport already wrote them to the outbound log.
    Accepted {
        message_ids: Vec<String>,
        recorded: bool,
    },
    /// It was not sent (the transport said no, or it could not be reached before handing it
    /// over): safe to try again.
    Refused(String),
    /// It may or may not have gone out (no answer in time): settle later from the outbound log.
    Unknown(String),
}

/// Sends one SMS that is not a reply. `mt_id` is its row in the outbound log.
pub trait SmsSender: Send + Sync + 'static {
    /// "smpp" or "kannel": what the outbound log records.
    fn transport(&self) -> &'static str;
    fn send(&self, mt_id: i64, to: &str, text: &str) -> impl Future<Output = SendOutcome> + Send;
}

/// One message for the ESME to submit (see `smpp::esme::run_with`).
#[derive(Debug)]
pub struct Submission {
    /// The outbound log id, carried by every part's events.
    pub tag: u64,
    pub from: String,
    pub to: String,
    pub text: String,
    /// Where the outcome goes; when the sender stopped waiting, the ESME drops the submission
    /// unsent.
    pub done: oneshot::Sender<SendOutcome>,
}

/// Unsolicited MTs over the SMPP ESME.
#[derive(Clone, Debug)]
pub struct SmppSender {
    from: String,
    tx: mpsc::UnboundedSender<Submission>,
    wait: Duration,
}

impl SmppSender {
    /// A sender from short code `from`, and the receiving end to give the ESME. A message whose
    /// parts are not all answered within `wait` is reported [`SendOutcome::Unknown`].
    pub fn new(from: &str, wait: Duration) -> (SmppSender, mpsc::UnboundedReceiver<Submission>) {
        let (tx, rx) = mpsc::unbounded_channel();
        (
            SmppSender {
                from: from.to_owned(),
                tx,
                wait,
            },
            rx,
        )
    }
}

impl SmsSender for SmppSender {
    fn transport(&self) -> &'static str {
        "smpp"
    }

    async fn send(&self, mt_id: i64, to: &str, text: &str) -> SendOutcome {
        let (done, answer) = oneshot::channel();
        let sub = Submission {
            tag: u64::try_from(mt_id).unwrap_or_default(),
            from: self.from.clone(),
            // SMPP addresses with TON international carry no '+'.
            to: to.trim_start_matches('+').to_owned(),
            text: text.to_owned(),
            done,
        };
        if self.tx.send(sub).is_err() {
            return SendOutcome::Refused("the SMPP ESME is not running".into());
        }
        match tokio::time::timeout(self.wait, answer).await {
            Ok(Ok(outcome)) => outcome,
            Ok(Err(_)) => SendOutcome::Unknown("the SMPP session ended before an answer".into()),
            Err(_) => SendOutcome::Unknown(format!(
                "no submit_sm_resp within {} s",
                self.wait.as_secs()
            )),
        }
    }
}

/// Unsolicited MTs through Kannel's `sendsms` interface (smsbox `sendsms-port`).
#[derive(Clone, Debug)]
pub struct KannelSender {
    /// `host:port` of smsbox's sendsms port.
    addr: String,
    /// The path, `/cgi-bin/sendsms` by default.
    path: String,
    user: String,
    password: String,
    from: String,
    /// Our `/v1/sms/dlr` URL; Kannel calls it with `mt` and `type` filled in.
    dlr_url: Option<String>,
    timeout: Duration,
}

/// Why a Kannel sendsms URL is not usable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the Kannel sendsms URL {0:?} is not of the form http://host:port/path")]
pub struct BadUrl(pub String);

impl KannelSender {
    /// `url`: `http://host:port/cgi-bin/sendsms` (plain HTTP: smsbox listens on loopback or a
    /// private network).
    pub fn new(
        url: &str,
        user: &str,
        password: &str,
        from: &str,
        dlr_url: Option<&str>,
    ) -> Result<KannelSender, BadUrl> {
        let rest = url
            .strip_prefix("http://")
            .ok_or_else(|| BadUrl(url.to_owned()))?;
        let (addr, path) = match rest.find('/') {
            Some(i) => (rest.get(..i).unwrap_or(""), rest.get(i..).unwrap_or("/")),
            None => (rest, "/cgi-bin/sendsms"),
        };
        if addr.is_empty() || !addr.contains(':') {
            return Err(BadUrl(url.to_owned()));
        }
        Ok(KannelSender {
            addr: addr.to_owned(),
            path: path.to_owned(),
            user: user.to_owned(),
            password: password.to_owned(),
            from: from.to_owned(),
            dlr_url: dlr_url.map(str::to_owned),
            timeout: Duration::from_secs(10),
        })
    }

    /// The request line's target for one message (sans-I/O, tested).
    pub fn target(&self, mt_id: i64, to: &str, text: &str) -> String {
        let mut q = vec![
            ("username", self.user.clone()),
            ("password", self.password.clone()),
            ("from", self.from.clone()),
            ("to", to.to_owned()),
            ("text", text.to_owned()),
            ("charset", "UTF-8".to_owned()),
        ];
        if let Some(c) = crate::kannel::reply_coding(text) {
            q.push(("coding", c.to_owned()));
        }
        if let Some(dlr) = &self.dlr_url {
            let sep = if dlr.contains('?') { '&' } else { '?' };
            // 1 delivered, 2 failed, 8 SMSC accepted, 16 SMSC rejected; %d = the type.
            q.push(("dlr-mask", "27".to_owned()));
            q.push(("dlr-url", format!("{dlr}{sep}mt={mt_id}&type=%d")));
        }
        let query: Vec<String> = q
            .iter()
            .map(|(k, v)| format!("{k}={}", url_encode(v)))
            .collect();
        format!("{}?{}", self.path, query.join("&"))
    }

    /// The message id a Kannel MT is known by in the outbound log (Kannel's own ids are not
    /// returned by sendsms; the DLR callback carries `mt`).
    pub fn message_id(mt_id: i64) -> String {
        format!("kannel-{mt_id}")
    }
}

fn url_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The status code of an HTTP response's status line.
fn status_of(response: &[u8]) -> Option<u16> {
    let line = response.split(|&b| b == b'\n').next()?;
    let line = std::str::from_utf8(line).ok()?;
    line.split_whitespace().nth(1)?.parse().ok()
}

impl SmsSender for KannelSender {
    fn transport(&self) -> &'static str {
        "kannel"
    }

    async fn send(&self, mt_id: i64, to: &str, text: &str) -> SendOutcome {
        let request = format!(
            "GET {} HTTP/1.0\r\nHost: {}\r\nConnection: close\r\n\r\n",
            self.target(mt_id, to, text),
            self.addr
        );
        let stream = match tokio::time::timeout(self.timeout, TcpStream::connect(&self.addr)).await
        {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => return SendOutcome::Refused(format!("Kannel sendsms: {e}")),
            Err(_) => return SendOutcome::Refused("Kannel sendsms: connect timed out".into()),
        };
        let exchange = async move {
            let mut stream = stream;
            stream.write_all(request.as_bytes()).await?;
            let mut response = Vec::new();
            stream.take(64 * 1024).read_to_end(&mut response).await?;
            Ok::<_, std::io::Error>(response)
        };
        let response = match tokio::time::timeout(self.timeout, exchange).await {
            Ok(Ok(r)) => r,
            Ok(Err(e)) => return SendOutcome::Unknown(format!("Kannel sendsms: {e}")),
            Err(_) => return SendOutcome::Unknown("Kannel sendsms: no answer in time".into()),
        };
        match status_of(&response) {
            Some(200..=299) => SendOutcome::Accepted {
                message_ids: vec![KannelSender::message_id(mt_id)],
                recorded: false,
            },
            Some(code) => {
                let body = String::from_utf8_lossy(&response);
                let body = body.split("\r\n\r\n").nth(1).unwrap_or("").trim();
                SendOutcome::Refused(format!("Kannel sendsms answered {code}: {body}"))
            }
            None => SendOutcome::Unknown("Kannel sendsms: not an HTTP answer".into()),
        }
    }
}

/// The recall-notice sender (issue 8): [`RecallSender`] over any [`SmsSender`].
pub struct RecallNotices<S> {
    store: Store,
    contacts: Contacts,
    sender: S,
}

impl<S: SmsSender> RecallNotices<S> {
    pub fn new(core: &Core, sender: S) -> RecallNotices<S> {
        RecallNotices {
            store: core.store.clone(),
            contacts: Contacts::new(core.store.clone(), core.keys.clone()),
            sender,
        }
    }
}

impl<S: SmsSender> RecallSender for RecallNotices<S> {
    async fn send(&self, n: &RecallNotice) -> Delivery {
        // The opt-out is read now, not when the notice was queued.
        let number = match self.contacts.follow_up(&n.source_key).await {
            Err(e) => return Delivery::Retry(e.to_string()),
            Ok(None) => return Delivery::NoContact,
            Ok(Some((_, true))) => return Delivery::OptedOut,
            Ok(Some((number, false))) => number,
        };
        // The language of the consumer's messages is not kept; a Chinese number gets Chinese.
        let lang = if number.starts_with("+86") || !number.starts_with('+') {
            Lang::Zh
        } else {
            Lang::En
        };
        let text = n.text(lang);
        let to = Recipient {
            source_key: Some(n.source_key.clone()),
            masked: mask_phone(&number),
        };
        let transport = self.sender.transport();
        let mt_id =
            match sms_mt::record(&self.store, Purpose::Recall, Some(n.id), &to, transport).await {
                Ok(id) => id,
                Err(e) => return Delivery::Retry(e.to_string()),
            };
        match self.sender.send(mt_id, &number, &text).await {
            SendOutcome::Accepted {
                message_ids,
                recorded,
            } => {
                if !recorded {
                    for id in &message_ids {
                        if let Err(e) =
                            sms_mt::submitted(&self.store, Some(mt_id), &to, transport, id).await
                        {
                            tracing::warn!(error = %e, "outbound log: accepted MT not recorded");
                        }
                    }
                }
                Delivery::Sent
            }
            SendOutcome::Refused(why) => {
                if let Err(e) = sms_mt::failed(&self.store, mt_id, &why).await {
                    tracing::warn!(error = %e, "outbound log: refused MT not recorded");
                }
                Delivery::Retry(why)
            }
            SendOutcome::Unknown(why) => Delivery::Unsettled(why),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sendsms_request_carries_the_text_coding_and_dlr_url() {
        let k = KannelSender::new(
            "http://127.0.0.1:13013/cgi-bin/sendsms",
            "zw",
            "p&w",
            "10690000",
            Some("http://127.0.0.1:8080/v1/sms/dlr"),
        )
        .unwrap();
        assert_eq!(
            k.target(7, "+8613800138000", "召回 A"),
            "/cgi-bin/sendsms?username=zw&password=p%26w&from=10690000&to=%2B8613800138000\
             &text=%E5%8F%AC%E5%9B%9E%20A&charset=UTF-8&coding=2&dlr-mask=27\
             &dlr-url=http%3A%2F%2F127.0.0.1%3A8080%2Fv1%2Fsms%2Fdlr%3Fmt%3D7%26type%3D%25d"
        );
        assert_eq!(KannelSender::message_id(7), "kannel-7");
        assert!(KannelSender::new("https://x:1/", "", "", "", None).is_err());
        assert!(KannelSender::new("http:///p", "", "", "", None).is_err());
    }

    #[test]
    fn status_lines_are_read() {
        assert_eq!(
            status_of(b"HTTP/1.0 202 Accepted\r\n\r\n0: Accepted"),
            Some(202)
        );
        assert_eq!(status_of(b"garbage"), None);
        assert_eq!(status_of(b""), None);
    }
}
