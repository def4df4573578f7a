//! Bearer tokens of regulators posting feeds over HTTP (`POST /v1/feeds/{kind}`).
//!
//! `zhenwei feed token add NAME` issues a token and prints it once; the database keeps only its
//! SHA-256 (a token is 256 random bits, so a plain hash cannot be reversed or guessed), the
//! regulator's name and the feed kinds it may post. Issuing again for the same name replaces the
//! token (and lifts a revocation); revoking refuses it from the next request on. Tokens are never
//! logged or audited — only the name is.

use rand::RngCore;
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::{FeedError, FeedKind};
use crate::audit;
use crate::store::{now_ms, Store};

/// Tokens start with this, so a leaked one is recognisable in a scan.
pub const TOKEN_PREFIX: &str = "zwf_";

/// A regulator a token speaks for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Regulator {
    pub name: String,
    pub kinds: Vec<FeedKind>,
}

impl Regulator {
    pub fn may_post(&self, kind: FeedKind) -> bool {
        self.kinds.contains(&kind)
    }
}

/// A token as `zhenwei feed token list` shows it (never the token).
#[derive(Clone, Debug, Serialize)]
pub struct TokenInfo {
    pub name: String,
    pub kinds: Vec<FeedKind>,
    pub created_at: i64,
    pub revoked_at: Option<i64>,
}

fn hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

fn kinds_text(kinds: &[FeedKind]) -> String {
    kinds
        .iter()
        .map(|k| k.as_str())
        .collect::<Vec<_>>()
        .join(",")
}

fn parse_kinds(s: &str) -> Vec<FeedKind> {
    s.split(',').filter_map(FeedKind::parse).collect()
}

fn check_name(name: &str) -> Result<String, FeedError> {
    let n = name.trim();
    if n.is_empty()
        || n.len() > 64
        || !n
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
    {
        return Err(FeedError::Invalid(format!(
            "a regulator name is 1 to 64 letters, digits, '-', '_' or '.', got {name:?}"
        )));
    }
    Ok(n.to_owned())
}

/// Issues (or re-issues) the token of regulator `name` for `kinds` (all kinds when empty).
/// Returns the token: the only time it is ever shown.
pub async fn issue(
    store: &Store,
    actor: &str,
    name: &str,
    kinds: &[FeedKind],
) -> Result<String, FeedError> {
    let name = check_name(name)?;
    let kinds: Vec<FeedKind> = if kinds.is_empty() {
        FeedKind::ALL.to_vec()
    } else {
        FeedKind::ALL
            .into_iter()
            .filter(|k| kinds.contains(k))
            .collect()
    };
    let mut raw = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut raw);
    let token = format!("{TOKEN_PREFIX}{}", hex::encode(raw));
    let mut tx = store.pool().begin().await?;
    sqlx::query(
        "INSERT INTO feed_tokens (name, token_hash, kinds, created_at, revoked_at) \
         VALUES ($1, $2, $3, $4, NULL) ON CONFLICT (name) DO UPDATE SET \
         token_hash = excluded.token_hash, kinds = excluded.kinds, \
         created_at = excluded.created_at, revoked_at = NULL",
    )
    .bind(&name)
    .bind(hash(&token))
    .bind(kinds_text(&kinds))
    .bind(now_ms())
    .execute(&mut *tx)
    .await?;
    audit::append(
        &mut tx,
        actor,
        "feed.token.issue",
        &format!("regulator:{name}"),
        &serde_json::json!({ "kinds": kinds_text(&kinds) }),
    )
    .await?;
    tx.commit().await?;
    Ok(token)
}

/// Revokes regulator `name`'s token.
pub async fn revoke(store: &Store, actor: &str, name: &str) -> Result<(), FeedError> {
    let mut tx = store.pool().begin().await?;
    let n = sqlx::query(
        "UPDATE feed_tokens SET revoked_at = $1 WHERE name = $2 AND revoked_at IS NULL",
    )
    .bind(now_ms())
    .bind(name)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if n == 0 {
        return Err(FeedError::NotFound(format!(
            "an unrevoked token of regulator {name:?}"
        )));
    }
    audit::append(
        &mut tx,
        actor,
        "feed.token.revoke",
        &format!("regulator:{name}"),
        &serde_json::json!({}),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// The tokens (never the tokens themselves).
pub async fn list(store: &Store) -> Result<Vec<TokenInfo>, FeedError> {
    let rows: Vec<(String, String, i64, Option<i64>)> =
        sqlx::query_as("SELECT name, kinds, created_at, revoked_at FROM feed_tokens ORDER BY name")
            .fetch_all(store.pool())
            .await?;
    Ok(rows
        .into_iter()
        .map(|(name, kinds, created_at, revoked_at)| TokenInfo {
            name,
            kinds: parse_kinds(&kinds),
            created_at,
            revoked_at,
        })
        .collect())
}

/// The regulator a presented token speaks for: `None` for an unknown or revoked token.
pub async fn authenticate(store: &Store, token: &str) -> Result<Option<Regulator>, FeedError> {
    if !token.starts_with(TOKEN_PREFIX) || token.len() > 128 {
        return Ok(None);
    }
    let row: Option<(String, String)> = sqlx::query_as(
        "SELECT name, kinds FROM feed_tokens WHERE token_hash = $1 AND revoked_at IS NULL",
    )
    .bind(hash(token))
    .fetch_optional(store.pool())
    .await?;
    Ok(row.map(|(name, kinds)| Regulator {
        name,
        kinds: parse_kinds(&kinds),
    }))
}
