//! Signed deliveries: HTTP Message Signatures (RFC 9421) with Ed25519, over a body digest
//! (RFC 9530 `Content-Digest`). Pure; the key comes from the caller.
//!
//! Every report zhenwei POSTs carries
//!
//! ```text
//! Content-Type: application/json
//! Idempotency-Key: zw-c42-v1-regulator-3
//! Content-Digest: sha-256=:<base64 of SHA-256(body)>:
//! Signature-Input: zhenwei=("@method" "@target-uri" "content-digest" "content-type" "idempotency-key");created=1763700000;keyid="zhenwei-3f2a…";alg="ed25519"
//! Signature: zhenwei=:<base64 of the Ed25519 signature of the signature base>:
//! ```
//!
//! The signature base is RFC 9421 §2.5: one line per covered component, `"name": value`, then
//! the `"@signature-params"` line. A receiver recomputes the digest of the body it got, rebuilds
//! the base from the request, and checks the signature with zhenwei's public key
//! ([`verify_request`], used by the reference receiver). Because the digest and the
//! idempotency key are covered, neither the body nor the key can be changed or swapped.
//! The signing implementation is checked against the RFC's own Ed25519 example (B.2.6).

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use ring::signature::{Ed25519KeyPair, KeyPair, UnparsedPublicKey, ED25519};
use sha2::{Digest, Sha256};

/// The signature label zhenwei uses.
pub const LABEL: &str = "zhenwei";
/// The components every zhenwei delivery signature covers, in order.
pub const COMPONENTS: [&str; 5] = [
    "@method",
    "@target-uri",
    "content-digest",
    "content-type",
    "idempotency-key",
];

/// Failures of signing or verification, in terms a receiver's operator understands.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SigError {
    #[error("not an Ed25519 private key (PKCS#8)")]
    BadKey,
    #[error("the key could not be generated")]
    Generate,
    #[error("missing header {0}")]
    Missing(&'static str),
    #[error("Content-Digest does not match the body")]
    DigestMismatch,
    #[error("Signature-Input is malformed: {0}")]
    BadInput(String),
    #[error("the signature does not cover {0}")]
    NotCovered(&'static str),
    #[error("signature algorithm {0:?} is not ed25519")]
    Algorithm(String),
    #[error("the signature was made with key {got:?}, not {expected:?}")]
    WrongKey { got: String, expected: String },
    #[error("the signature was created {age} s from now, outside the accepted window")]
    Stale { age: i64 },
    #[error("the signature does not verify")]
    Invalid,
}

/// zhenwei's delivery signing key. Its `Debug` shows only the key id.
pub struct SigningKey {
    pair: Ed25519KeyPair,
    keyid: String,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("keyid", &self.keyid)
            .finish_non_exhaustive()
    }
}

/// The key id of a public key: `zhenwei-` and the first 16 hex digits of its SHA-256.
pub fn keyid_of(public_key: &[u8]) -> String {
    format!("zhenwei-{}", &hex::encode(Sha256::digest(public_key))[..16])
}

impl SigningKey {
    /// A new key, as PKCS#8 (v2) DER, from the operating system's random source.
    pub fn generate_pkcs8() -> Result<Vec<u8>, SigError> {
        let rng = ring::rand::SystemRandom::new();
        Ed25519KeyPair::generate_pkcs8(&rng)
            .map(|d| d.as_ref().to_vec())
            .map_err(|_| SigError::Generate)
    }

    /// From PKCS#8 DER (v1 or v2).
    pub fn from_pkcs8(der: &[u8]) -> Result<SigningKey, SigError> {
        let pair = Ed25519KeyPair::from_pkcs8_maybe_unchecked(der).map_err(|_| SigError::BadKey)?;
        let keyid = keyid_of(pair.public_key().as_ref());
        Ok(SigningKey { pair, keyid })
    }

    /// The same key under another key id (for published test vectors).
    pub fn with_keyid(mut self, keyid: &str) -> SigningKey {
        self.keyid = keyid.to_owned();
        self
    }

    /// The raw 32-byte public key.
    pub fn public_key(&self) -> &[u8] {
        self.pair.public_key().as_ref()
    }

    pub fn keyid(&self) -> &str {
        &self.keyid
    }

    fn sign(&self, message: &[u8]) -> Vec<u8> {
        self.pair.sign(message).as_ref().to_vec()
    }
}

/// `sha-256=:…:` (RFC 9530) of a body.
pub fn content_digest(body: &[u8]) -> String {
    format!("sha-256=:{}:", B64.encode(Sha256::digest(body)))
}

/// The `@signature-params` value: the covered components and the parameters.
pub fn signature_params(components: &[&str], created: i64, keyid: &str, alg: bool) -> String {
    let list: Vec<String> = components.iter().map(|c| format!("\"{c}\"")).collect();
    let mut s = format!("({});created={created};keyid=\"{keyid}\"", list.join(" "));
    if alg {
        s.push_str(";alg=\"ed25519\"");
    }
    s
}

/// The signature base (RFC 9421 §2.5) of component values and a params string.
pub fn signature_base(components: &[(&str, &str)], params: &str) -> String {
    let mut base = String::new();
    for (name, value) in components {
        base.push_str(&format!("\"{name}\": {value}\n"));
    }
    base.push_str(&format!("\"@signature-params\": {params}"));
    base
}

/// Signs arbitrary component values (for the RFC's examples and tests): returns the
/// `Signature-Input` and `Signature` header values.
pub fn sign_components(
    key: &SigningKey,
    label: &str,
    components: &[(&str, &str)],
    created: i64,
    alg: bool,
) -> (String, String) {
    let names: Vec<&str> = components.iter().map(|(n, _)| *n).collect();
    let params = signature_params(&names, created, key.keyid(), alg);
    let base = signature_base(components, &params);
    let sig = key.sign(base.as_bytes());
    (
        format!("{label}={params}"),
        format!("{label}=:{}:", B64.encode(sig)),
    )
}

/// The headers of a signed delivery.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedHeaders {
    pub content_digest: String,
    pub signature_input: String,
    pub signature: String,
}

/// Signs a POST of `body` to `target_uri`.
pub fn sign_request(
    key: &SigningKey,
    method: &str,
    target_uri: &str,
    content_type: &str,
    idempotency_key: &str,
    body: &[u8],
    created: i64,
) -> SignedHeaders {
    let content_digest = content_digest(body);
    let values = [
        method,
        target_uri,
        &content_digest,
        content_type,
        idempotency_key,
    ];
    let components: Vec<(&str, &str)> = COMPONENTS.iter().copied().zip(values).collect();
    let (signature_input, signature) = sign_components(key, LABEL, &components, created, true);
    SignedHeaders {
        content_digest,
        signature_input,
        signature,
    }
}

/// What a verified signature said.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verified {
    pub keyid: String,
    pub created: i64,
}

/// The dictionary member `label` of a structured-field dictionary header, as raw text.
fn member<'a>(header: &'a str, label: &str) -> Option<&'a str> {
    let mut depth = 0i32;
    let mut quoted = false;
    let mut start = 0usize;
    let bytes = header.as_bytes();
    let mut members = Vec::new();
    for (i, b) in bytes.iter().enumerate() {
        match b {
            b'"' => quoted = !quoted,
            b'(' if !quoted => depth += 1,
            b')' if !quoted => depth -= 1,
            b',' if !quoted && depth == 0 => {
                members.push(header.get(start..i)?);
                start = i + 1;
            }
            _ => {}
        }
    }
    members.push(header.get(start..)?);
    members.into_iter().find_map(|m| {
        let (name, value) = m.trim().split_once('=')?;
        (name == label).then_some(value)
    })
}

/// A `Signature-Input` member: the covered component names and the parameters.
struct Input {
    names: Vec<String>,
    params: Vec<(String, String)>,
}

/// Parses a `Signature-Input` member value.
fn parse_input(value: &str) -> Result<Input, SigError> {
    let bad = |why: &str| SigError::BadInput(why.to_owned());
    let rest = value
        .strip_prefix('(')
        .ok_or_else(|| bad("no component list"))?;
    let (list, params) = rest.split_once(')').ok_or_else(|| bad("unclosed list"))?;
    let mut names = Vec::new();
    for item in list.split_whitespace() {
        let name = item
            .strip_prefix('"')
            .and_then(|s| s.strip_suffix('"'))
            .ok_or_else(|| bad("a component name is not a string"))?;
        if name.contains(';') {
            return Err(bad("component parameters are not supported"));
        }
        names.push(name.to_owned());
    }
    let mut out = Vec::new();
    for p in params.split(';').filter(|p| !p.is_empty()) {
        let (k, v) = p
            .split_once('=')
            .ok_or_else(|| bad("a parameter has no value"))?;
        out.push((k.to_owned(), v.trim_matches('"').to_owned()));
    }
    Ok(Input { names, params: out })
}

/// Verifies a delivery: the body's digest, coverage of every [`COMPONENTS`] entry, the key id,
/// the creation time (within `max_age_s` of `now_s`, either way), and the Ed25519 signature
/// with `public_key` (raw 32 bytes). `header` looks a request header up by lower-case name.
pub fn verify_request(
    public_key: &[u8],
    method: &str,
    target_uri: &str,
    header: &dyn Fn(&str) -> Option<String>,
    body: &[u8],
    now_s: i64,
    max_age_s: i64,
) -> Result<Verified, SigError> {
    let digest = header("content-digest").ok_or(SigError::Missing("Content-Digest"))?;
    let expected = content_digest(body);
    if !digest.split(',').any(|m| m.trim() == expected) {
        return Err(SigError::DigestMismatch);
    }
    let input = header("signature-input").ok_or(SigError::Missing("Signature-Input"))?;
    let input_value = member(&input, LABEL)
        .ok_or_else(|| SigError::BadInput(format!("no {LABEL:?} signature")))?;
    let Input { names, params } = parse_input(input_value)?;
    for needed in COMPONENTS {
        if !names.iter().any(|n| n == needed) {
            return Err(SigError::NotCovered(needed));
        }
    }
    let param = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    if let Some(alg) = param("alg") {
        if alg != "ed25519" {
            return Err(SigError::Algorithm(alg));
        }
    }
    let keyid = param("keyid").ok_or_else(|| SigError::BadInput("no keyid".into()))?;
    let expected_keyid = keyid_of(public_key);
    if keyid != expected_keyid {
        return Err(SigError::WrongKey {
            got: keyid,
            expected: expected_keyid,
        });
    }
    let created: i64 = param("created")
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| SigError::BadInput("no created time".into()))?;
    if (now_s - created).abs() > max_age_s {
        return Err(SigError::Stale {
            age: created - now_s,
        });
    }
    let mut values = Vec::new();
    for n in &names {
        let v = match n.as_str() {
            "@method" => method.to_owned(),
            "@target-uri" => target_uri.to_owned(),
            h if h.starts_with('@') => {
                return Err(SigError::BadInput(format!("unsupported component {h}")))
            }
            h => header(h)
                .map(|v| v.trim().to_owned())
                .ok_or_else(|| SigError::BadInput(format!("covered header {h} is missing")))?,
        };
        values.push(v);
    }
    let components: Vec<(&str, &str)> = names
        .iter()
        .map(String::as_str)
        .zip(values.iter().map(String::as_str))
        .collect();
    let base = signature_base(&components, input_value);
    let sig_header = header("signature").ok_or(SigError::Missing("Signature"))?;
    let sig_b64 = member(&sig_header, LABEL)
        .and_then(|v| v.strip_prefix(':'))
        .and_then(|v| v.strip_suffix(':'))
        .ok_or(SigError::Invalid)?;
    let sig = B64.decode(sig_b64).map_err(|_| SigError::Invalid)?;
    UnparsedPublicKey::new(&ED25519, public_key)
        .verify(base.as_bytes(), &sig)
        .map_err(|_| SigError::Invalid)?;
    Ok(Verified { keyid, created })
}

/// The 32-byte Ed25519 key inside an X.509 SubjectPublicKeyInfo (`-----BEGIN PUBLIC KEY-----`).
pub fn public_key_from_spki(der: &[u8]) -> Option<&[u8]> {
    const PREFIX: [u8; 12] = [
        0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
    ];
    der.strip_prefix(&PREFIX[..]).filter(|k| k.len() == 32)
}

/// The SubjectPublicKeyInfo DER of a raw Ed25519 public key.
pub fn spki_of(public_key: &[u8]) -> Vec<u8> {
    let mut der = vec![
        0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
    ];
    der.extend_from_slice(public_key);
    der
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 9421 Appendix B.1.4 `test-key-ed25519` (PKCS#8 v1).
    const TEST_KEY: &str = "MC4CAQAwBQYDK2VwBCIEIJ+DYvh6SEqVTm50DFtMDoQikTmiCqirVv9mWG9qfSnF";
    const TEST_PUB: &str = "MCowBQYDK2VwAyEAJrQLj5P/89iXES9+vFgrIy29clF9CC/oPPsw3c5D0bs=";

    fn test_key() -> SigningKey {
        SigningKey::from_pkcs8(&B64.decode(TEST_KEY).unwrap())
            .unwrap()
            .with_keyid("test-key-ed25519")
    }

    #[test]
    fn rfc_9421_b_2_6_ed25519_example() {
        let key = test_key();
        let spki = B64.decode(TEST_PUB).unwrap();
        assert_eq!(public_key_from_spki(&spki), Some(key.public_key()));
        assert_eq!(spki_of(key.public_key()), spki);
        let components = [
            ("date", "Tue, 20 Apr 2021 02:07:55 GMT"),
            ("@method", "POST"),
            ("@path", "/foo"),
            ("@authority", "example.com"),
            ("content-type", "application/json"),
            ("content-length", "18"),
        ];
        let (input, signature) = sign_components(&key, "sig-b26", &components, 1618884473, false);
        assert_eq!(
            input,
            "sig-b26=(\"date\" \"@method\" \"@path\" \"@authority\" \"content-type\" \
             \"content-length\");created=1618884473;keyid=\"test-key-ed25519\""
        );
        assert_eq!(
            signature,
            "sig-b26=:wqcAqbmYJ2ji2glfAMaRy4gruYYnx2nEFN2HN6jrnDnQCK1u02Gb04v9EDgwUPiu4A0w6vuQv5lIp5WPpBKRCw==:"
        );
    }

    #[test]
    fn rfc_9530_digest_example() {
        // RFC 9530 §2 example: {"hello": "world"}
        assert_eq!(
            content_digest(b"{\"hello\": \"world\"}"),
            "sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:"
        );
    }

    fn signed(body: &[u8]) -> (SigningKey, SignedHeaders) {
        let key = SigningKey::from_pkcs8(&SigningKey::generate_pkcs8().unwrap()).unwrap();
        let h = sign_request(
            &key,
            "POST",
            "https://127.0.0.1:9/cases",
            "application/json",
            "zw-c1-v1-regulator-2",
            body,
            1_763_700_000,
        );
        (key, h)
    }

    fn lookup(h: &SignedHeaders, idem: &str) -> impl Fn(&str) -> Option<String> {
        let h = h.clone();
        let idem = idem.to_owned();
        move |name: &str| match name {
            "content-digest" => Some(h.content_digest.clone()),
            "signature-input" => Some(h.signature_input.clone()),
            "signature" => Some(h.signature.clone()),
            "content-type" => Some("application/json".into()),
            "idempotency-key" => Some(idem.clone()),
            _ => None,
        }
    }

    #[test]
    fn round_trip_and_every_tampering_is_caught() {
        let body = br#"{"case":{"id":1}}"#;
        let (key, h) = signed(body);
        assert!(h
            .signature_input
            .starts_with("zhenwei=(\"@method\" \"@target-uri\""));
        let pk = key.public_key().to_vec();
        let uri = "https://127.0.0.1:9/cases";
        let ok = verify_request(
            &pk,
            "POST",
            uri,
            &lookup(&h, "zw-c1-v1-regulator-2"),
            body,
            1_763_700_010,
            300,
        )
        .unwrap();
        assert_eq!(ok.keyid, key.keyid());
        assert_eq!(ok.created, 1_763_700_000);
        let check = |method: &str, uri: &str, idem: &str, body: &[u8], now: i64| {
            verify_request(&pk, method, uri, &lookup(&h, idem), body, now, 300)
        };
        assert_eq!(
            check("POST", uri, "zw-c1-v1-regulator-2", b"{}", 1_763_700_000),
            Err(SigError::DigestMismatch)
        );
        assert_eq!(
            check("POST", uri, "zw-c1-v1-regulator-3", body, 1_763_700_000),
            Err(SigError::Invalid)
        );
        assert_eq!(
            check("PUT", uri, "zw-c1-v1-regulator-2", body, 1_763_700_000),
            Err(SigError::Invalid)
        );
        assert_eq!(
            check(
                "POST",
                "https://other/cases",
                "zw-c1-v1-regulator-2",
                body,
                1_763_700_000
            ),
            Err(SigError::Invalid)
        );
        assert!(matches!(
            check("POST", uri, "zw-c1-v1-regulator-2", body, 1_763_800_000),
            Err(SigError::Stale { .. })
        ));
        let other = SigningKey::from_pkcs8(&SigningKey::generate_pkcs8().unwrap()).unwrap();
        assert!(matches!(
            verify_request(
                other.public_key(),
                "POST",
                uri,
                &lookup(&h, "zw-c1-v1-regulator-2"),
                body,
                1_763_700_000,
                300
            ),
            Err(SigError::WrongKey { .. })
        ));
        // Garbage headers are errors, never panics.
        for garbage in [
            "",
            "zhenwei=",
            "zhenwei=(",
            "zhenwei=(\"@method\"",
            "a=(),b",
            "zhenwei=(x)",
        ] {
            let g = garbage.to_owned();
            let hdr = move |n: &str| match n {
                "content-digest" => Some(content_digest(body)),
                "signature-input" | "signature" => Some(g.clone()),
                _ => None,
            };
            assert!(verify_request(&pk, "POST", uri, &hdr, body, 1_763_700_000, 300).is_err());
        }
    }

    #[test]
    fn debug_shows_no_key() {
        let (key, _) = signed(b"");
        let d = format!("{key:?}");
        assert!(d.contains("zhenwei-") && !d.contains("pair"), "{d}");
    }
}
