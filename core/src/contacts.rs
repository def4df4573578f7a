//! Contacts: the phone numbers of people who texted or called, encrypted at rest.
//!
//! A number is personal data (SPEC "Cases and reporting"): it is used for nothing but replies,
//! recall notices to people who queried a recalled batch (unless they opted out) and rewards.
//! So the `contacts` table never holds it in the clear:
//!
//! * **found by keyed hash** — `source_key` is [`crate::verify::source_key`] of the channel and
//!   number, the very value the query events of that person carry, so "who queried this batch
//!   and did not opt out" is a join, and the hash means nothing without the key file;
//! * **stored encrypted** — `number_cipher` is AES-256-GCM (random 96-bit nonce, the source key
//!   as associated data so a ciphertext cannot be moved to another row) under
//!   [`crate::keys::Keyring::contact_key`], which lives in the key file, outside the database;
//! * **shown masked** — `number_masked` is [`crate::codes::text::mask_phone`].
//!
//! `opted_out` is set by an SMS `TD`/`STOP`/`退订` and is never cleared by a later query — only
//! by the person opting back in (`开通`/`START`/`UNSTOP`, [`Contacts::opt_in`]).
//!
//! Retention ([`crate::retention`]) deletes contacts not seen for the configured period, except
//! opted-out ones, which keep their row with the number blanked (`''`): "no number known" to
//! [`Contacts::follow_up`], and a later message from that person stores the number again,
//! still opted out.

use std::sync::Arc;

use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use ring::rand::{SecureRandom, SystemRandom};

use crate::codes::text::mask_phone;
use crate::keys::Keyring;
use crate::live_keys::LiveKeys;
use crate::store::{Store, StoreError};
use crate::verdict::Channel;
use crate::verify::source_key;
use crate::write_tx::{placeholders, Param, WriteTx};

/// Failures of the contact book.
#[derive(Debug, thiserror::Error)]
pub enum ContactError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The ciphertext does not open under the current key (wrong key file, or tampering).
    #[error("a stored contact cannot be decrypted with this key file")]
    Decrypt,
    #[error("encryption failed")]
    Encrypt,
}

impl From<sqlx::Error> for ContactError {
    fn from(e: sqlx::Error) -> Self {
        ContactError::Store(StoreError::Db(e))
    }
}

/// One contact as the rest of zhenwei may see it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Contact {
    pub source_key: String,
    pub masked: String,
    pub opted_out: bool,
    pub first_seen: i64,
    pub last_seen: i64,
}

/// The contact book. Cheap to clone.
#[derive(Clone)]
pub struct Contacts {
    store: Store,
    keys: Arc<LiveKeys>,
}

fn cipher(keyring: &Keyring) -> Result<LessSafeKey, ContactError> {
    UnboundKey::new(&AES_256_GCM, &keyring.contact_key())
        .map(LessSafeKey::new)
        .map_err(|_| ContactError::Encrypt)
}

/// `hex(nonce ‖ ciphertext ‖ tag)` of `number`, bound to `aad`.
pub fn seal(keyring: &Keyring, aad: &str, number: &str) -> Result<String, ContactError> {
    let key = cipher(keyring)?;
    let mut nonce = [0u8; NONCE_LEN];
    SystemRandom::new()
        .fill(&mut nonce)
        .map_err(|_| ContactError::Encrypt)?;
    let mut buf = number.as_bytes().to_vec();
    key.seal_in_place_append_tag(
        Nonce::assume_unique_for_key(nonce),
        Aad::from(aad.as_bytes()),
        &mut buf,
    )
    .map_err(|_| ContactError::Encrypt)?;
    let mut out = nonce.to_vec();
    out.extend_from_slice(&buf);
    Ok(hex::encode(out))
}

/// The number [`seal`] sealed.
pub fn open(keyring: &Keyring, aad: &str, sealed: &str) -> Result<String, ContactError> {
    let bytes = hex::decode(sealed).map_err(|_| ContactError::Decrypt)?;
    if bytes.len() < NONCE_LEN {
        return Err(ContactError::Decrypt);
    }
    let (nonce, body) = bytes.split_at(NONCE_LEN);
    let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| ContactError::Decrypt)?;
    let mut body = body.to_vec();
    let plain = cipher(keyring)?
        .open_in_place(nonce, Aad::from(aad.as_bytes()), &mut body)
        .map_err(|_| ContactError::Decrypt)?;
    String::from_utf8(plain.to_vec()).map_err(|_| ContactError::Decrypt)
}

type Row = (String, String, i64, i64, i64);

/// On a conflict, a number blanked by retention is stored again (the same number: the key is
/// its hash); a stored one is left as it is.
const RESTORE: &str = "number_cipher = CASE WHEN contacts.number_cipher = '' \
     THEN excluded.number_cipher ELSE contacts.number_cipher END, \
     number_masked = CASE WHEN contacts.number_masked = '' \
     THEN excluded.number_masked ELSE contacts.number_masked END";

impl Contacts {
    pub fn new(store: Store, keys: Arc<LiveKeys>) -> Contacts {
        Contacts { store, keys }
    }

    /// The key `number` is stored and queried under on `channel`.
    pub fn key(&self, channel: Channel, number: &str) -> String {
        source_key(&self.keys.current().keyring, channel, number)
    }

    /// Records that `number` wrote or called at `at` (Unix ms): creates the contact on first
    /// sight, moves `last_seen` otherwise. Returns the contact.
    pub async fn seen(
        &self,
        channel: Channel,
        number: &str,
        at: i64,
    ) -> Result<Contact, ContactError> {
        self.upsert(channel, number, at, false).await
    }

    /// Records an opt-out (TD/STOP/退订): no recall notices or other follow-ups from now on.
    pub async fn opt_out(
        &self,
        channel: Channel,
        number: &str,
        at: i64,
    ) -> Result<Contact, ContactError> {
        self.upsert(channel, number, at, true).await
    }

    async fn upsert(
        &self,
        channel: Channel,
        number: &str,
        at: i64,
        opt_out: bool,
    ) -> Result<Contact, ContactError> {
        let keys = self.keys.current();
        let key = source_key(&keys.keyring, channel, number);
        let sealed = seal(&keys.keyring, &key, number)?;
        let sql = if opt_out {
            format!(
                "INSERT INTO contacts (source_key, channel, number_cipher, number_masked, \
                 opted_out, opted_out_at, first_seen, last_seen) \
                 VALUES ($1, $2, $3, $4, 1, $5, $5, $5) \
                 ON CONFLICT (source_key) DO UPDATE SET last_seen = excluded.last_seen, \
                 {RESTORE}, opted_out = 1, \
                 opted_out_at = COALESCE(contacts.opted_out_at, excluded.opted_out_at) \
                 RETURNING source_key, number_masked, opted_out, first_seen, last_seen"
            )
        } else {
            format!(
                "INSERT INTO contacts (source_key, channel, number_cipher, number_masked, \
                 opted_out, opted_out_at, first_seen, last_seen) \
                 VALUES ($1, $2, $3, $4, 0, NULL, $5, $5) \
                 ON CONFLICT (source_key) DO UPDATE SET last_seen = excluded.last_seen, \
                 {RESTORE} \
                 RETURNING source_key, number_masked, opted_out, first_seen, last_seen"
            )
        };
        let row: Row = sqlx::query_as(&sql)
            .bind(&key)
            .bind(channel.as_str())
            .bind(&sealed)
            .bind(mask_phone(number))
            .bind(at)
            .fetch_one(self.store.pool())
            .await?;
        Ok(contact(row))
    }

    /// The contact of `number` on `channel`, if it ever wrote.
    pub async fn get(
        &self,
        channel: Channel,
        number: &str,
    ) -> Result<Option<Contact>, ContactError> {
        let row: Option<Row> = sqlx::query_as(
            "SELECT source_key, number_masked, opted_out, first_seen, last_seen FROM contacts \
             WHERE source_key = $1",
        )
        .bind(self.key(channel, number))
        .fetch_optional(self.store.pool())
        .await?;
        Ok(row.map(contact))
    }

    /// Opting back in (开通/START/UNSTOP): follow-ups such as recall notices are sent again.
    pub async fn opt_in(
        &self,
        channel: Channel,
        number: &str,
        at: i64,
    ) -> Result<Contact, ContactError> {
        self.upsert(channel, number, at, false).await?;
        let row: Row = sqlx::query_as(
            "UPDATE contacts SET opted_out = 0, opted_out_at = NULL, opted_in_at = $1 \
             WHERE source_key = $2 \
             RETURNING source_key, number_masked, opted_out, first_seen, last_seen",
        )
        .bind(at)
        .bind(self.key(channel, number))
        .fetch_one(self.store.pool())
        .await?;
        Ok(contact(row))
    }

    /// Where a follow-up for `source_key` may go, read when it is sent: `None` when no number
    /// is known, `Some((number, opted_out))` otherwise.
    pub async fn follow_up(
        &self,
        source_key: &str,
    ) -> Result<Option<(String, bool)>, ContactError> {
        let row: Option<(String, i64)> =
            sqlx::query_as("SELECT number_cipher, opted_out FROM contacts WHERE source_key = $1")
                .bind(source_key)
                .fetch_optional(self.store.pool())
                .await?;
        match row {
            // Blanked by retention: no number known.
            Some((sealed, _)) if sealed.is_empty() => Ok(None),
            Some((sealed, opted_out)) => Ok(Some((
                open(&self.keys.current().keyring, source_key, &sealed)?,
                opted_out != 0,
            ))),
            None => Ok(None),
        }
    }

    /// The number behind a source key, decrypted (for sending a recall notice or a reply).
    pub async fn number(&self, source_key: &str) -> Result<Option<String>, ContactError> {
        let sealed: Option<String> =
            sqlx::query_scalar("SELECT number_cipher FROM contacts WHERE source_key = $1")
                .bind(source_key)
                .fetch_optional(self.store.pool())
                .await?;
        match sealed {
            Some(s) if s.is_empty() => Ok(None),
            Some(s) => Ok(Some(open(&self.keys.current().keyring, source_key, &s)?)),
            None => Ok(None),
        }
    }
}

/// Records, inside the recorder's batch transaction, that each of `numbers` — `(source key,
/// channel, number)` — wrote at `at`: the contact is created on first sight and its `last_seen`
/// moved otherwise, in one multi-row upsert. So "this person queried" and "this person's number
/// is on file for a recall notice" commit together, under the batch's one fsync.
pub(crate) async fn seen_in<T: WriteTx>(
    tx: &mut T,
    keyring: &Keyring,
    numbers: &[(&str, Channel, &str)],
    at: i64,
) -> Result<(), ContactError> {
    // One row per key: PostgreSQL refuses to upsert the same row twice in one statement.
    let mut unique: Vec<&(&str, Channel, &str)> = numbers.iter().collect();
    unique.sort_by_key(|n| n.0);
    unique.dedup_by_key(|n| n.0);
    for chunk in unique.chunks(100) {
        let sql = format!(
            "INSERT INTO contacts (source_key, channel, number_cipher, number_masked, opted_out, \
             opted_out_at, first_seen, last_seen) VALUES {} \
             ON CONFLICT (source_key) DO UPDATE SET last_seen = excluded.last_seen, {RESTORE}",
            placeholders(chunk.len(), 8)
        );
        let mut params = Vec::with_capacity(chunk.len() * 8);
        for (key, channel, number) in chunk {
            params.extend([
                Param::from(*key),
                channel.as_str().into(),
                seal(keyring, key, number)?.into(),
                mask_phone(number).into(),
                Param::Int(0),
                Param::NullInt,
                at.into(),
                at.into(),
            ]);
        }
        tx.execute(&sql, params).await?;
    }
    Ok(())
}

fn contact((source_key, masked, opted_out, first_seen, last_seen): Row) -> Contact {
    Contact {
        source_key,
        masked,
        opted_out: opted_out != 0,
        first_seen,
        last_seen,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_numbers_open_only_with_the_same_key_and_row() {
        let k = Keyring::ephemeral(3);
        let s = seal(&k, "row-a", "+8613812345678").unwrap();
        assert!(!s.contains("13812345678"));
        assert_eq!(open(&k, "row-a", &s).unwrap(), "+8613812345678");
        // A fresh nonce each time.
        assert_ne!(s, seal(&k, "row-a", "+8613812345678").unwrap());
        assert!(matches!(open(&k, "row-b", &s), Err(ContactError::Decrypt)));
        assert!(matches!(
            open(&Keyring::ephemeral(4), "row-a", &s),
            Err(ContactError::Decrypt)
        ));
        assert!(matches!(
            open(&k, "row-a", "zz"),
            Err(ContactError::Decrypt)
        ));
        assert!(matches!(
            open(&k, "row-a", "00"),
            Err(ContactError::Decrypt)
        ));
    }

    #[test]
    fn the_contact_key_is_not_a_lookup_hash() {
        let k = Keyring::ephemeral(3);
        assert_ne!(hex::encode(k.contact_key()), k.lookup_hash("", ""));
        assert_ne!(k.contact_key(), Keyring::ephemeral(4).contact_key());
    }
}
