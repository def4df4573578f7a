//! FF1 format-preserving encryption (NIST SP 800-38G) of decimal digit strings.
//!
//! FF1 is a ten-round Feistel network: the digit string is cut into two halves A and B; each round
//! feeds one half, with the tweak and the round number, through AES in CBC-MAC mode, turns the
//! MAC into a number y and adds it to the other half modulo 10^m. Encrypting maps every n-digit
//! string to another n-digit string, one to one, and without the key the output says nothing
//! about the input.
//!
//! The general algorithm works on numbers of any size (and the `fpe` crate does it with big
//! integers). zhenwei encrypts 20-digit codes, whose halves are below 10^19: every number FF1
//! handles then fits machine integers, the MAC's first twelve bytes (at most 96 bits) included.
//! This module is that special case — strings of [`MIN_LEN`]..=[`MAX_LEN`] digits — with no
//! allocation beyond the output, about an order of magnitude faster than the general one, and
//! checked against it digit for digit in the tests.

use aes::cipher::{generic_array::GenericArray, BlockEncrypt, KeyInit};
use aes::Aes256;

/// Shortest string: FF1 requires radix^minlen ≥ 10^6.
pub const MIN_LEN: usize = 6;
/// Longest string whose halves fit in a `u64` (10^19 < 2^64).
pub const MAX_LEN: usize = 38;

/// One FF1 key for radix 10 over AES-256.
#[derive(Clone)]
pub struct DecimalFf1 {
    cipher: Aes256,
}

impl DecimalFf1 {
    pub fn new(key: &[u8; 32]) -> DecimalFf1 {
        DecimalFf1 {
            cipher: Aes256::new(GenericArray::from_slice(key)),
        }
    }

    /// Encrypts `digits` (each 0..=9) under `tweak`; `None` for a length outside
    /// [`MIN_LEN`]..=[`MAX_LEN`], a digit above 9, or a tweak longer than 2^32 bytes.
    pub fn encrypt(&self, tweak: &[u8], digits: &[u8]) -> Option<Vec<u8>> {
        self.feistel(tweak, digits, Direction::Encrypt)
    }

    /// Decrypts what [`encrypt`](Self::encrypt) produced with the same key and tweak.
    pub fn decrypt(&self, tweak: &[u8], digits: &[u8]) -> Option<Vec<u8>> {
        self.feistel(tweak, digits, Direction::Decrypt)
    }

    fn feistel(&self, tweak: &[u8], x: &[u8], direction: Direction) -> Option<Vec<u8>> {
        let n = x.len();
        if !(MIN_LEN..=MAX_LEN).contains(&n) || x.iter().any(|d| *d > 9) {
            return None;
        }
        let t = u32::try_from(tweak.len()).ok()?;
        let (u, v) = (n / 2, n - n / 2);
        let (mut a, mut b) = (number(&x[..u]), number(&x[u..]));
        // b: bytes of NUM(B) in Q, ceil(ceil(v·log2 10) / 8); d: bytes of the MAC used as y.
        let b_len = bit_length(pow10(v)).div_ceil(8);
        let d = 4 * b_len.div_ceil(4) + 4;
        // P = [1, 2, 1] [radix]^3 [10] [u mod 256] [n]^4 [t]^4
        let mut p = [0u8; 16];
        p[..3].copy_from_slice(&[1, 2, 1]);
        p[3..6].copy_from_slice(&10u32.to_be_bytes()[1..]);
        p[6] = 10;
        p[7] = (u % 256) as u8;
        p[8..12].copy_from_slice(&(n as u32).to_be_bytes());
        p[12..16].copy_from_slice(&t.to_be_bytes());
        let mac_p = self.block(p, [0; 16]);
        // Q = T [0]^((-t-b-1) mod 16) [i] [NUM(half)]^b: its length is a multiple of 16.
        let pad = (16 - (tweak.len() + b_len + 1) % 16) % 16;
        let q_len = tweak.len() + pad + 1 + b_len;
        let mut q = vec![0u8; q_len];
        q[..tweak.len()].copy_from_slice(tweak);
        let round = |i: u8, half: u64, q: &mut Vec<u8>| -> u128 {
            q[q_len - b_len - 1] = i;
            let bytes = half.to_be_bytes();
            q[q_len - b_len..].copy_from_slice(&bytes[8 - b_len..]);
            let mut state = mac_p;
            for chunk in q.chunks_exact(16) {
                let mut block = [0u8; 16];
                block.copy_from_slice(chunk);
                state = self.block(block, state);
            }
            // y = NUM(S), S the first d (≤ 12) bytes of the MAC.
            state[..d]
                .iter()
                .fold(0u128, |acc, byte| (acc << 8) | u128::from(*byte))
        };
        match direction {
            Direction::Encrypt => {
                for i in 0..10u8 {
                    let m = if i % 2 == 0 { u } else { v };
                    let modulus = u128::from(pow10(m));
                    let y = round(i, b, &mut q);
                    let c = ((u128::from(a) + y % modulus) % modulus) as u64;
                    a = b;
                    b = c;
                }
            }
            Direction::Decrypt => {
                for i in (0..10u8).rev() {
                    let m = if i % 2 == 0 { u } else { v };
                    let modulus = u128::from(pow10(m));
                    let y = round(i, a, &mut q);
                    let c = ((u128::from(b) + modulus - y % modulus) % modulus) as u64;
                    b = a;
                    a = c;
                }
            }
        }
        let mut out = Vec::with_capacity(n);
        push_digits(&mut out, a, u);
        push_digits(&mut out, b, v);
        Some(out)
    }

    /// One CBC-MAC step: AES(state ⊕ block).
    fn block(&self, block: [u8; 16], state: [u8; 16]) -> [u8; 16] {
        let mut x = [0u8; 16];
        for (o, (p, s)) in x.iter_mut().zip(block.iter().zip(state.iter())) {
            *o = p ^ s;
        }
        let mut b = GenericArray::from(x);
        self.cipher.encrypt_block(&mut b);
        b.into()
    }
}

#[derive(Clone, Copy)]
enum Direction {
    Encrypt,
    Decrypt,
}

fn pow10(e: usize) -> u64 {
    (0..e).fold(1u64, |acc, _| acc.saturating_mul(10))
}

fn bit_length(x: u64) -> usize {
    (64 - x.leading_zeros()) as usize
}

/// NUM_10 of at most 19 digits.
fn number(digits: &[u8]) -> u64 {
    digits.iter().fold(0u64, |acc, d| acc * 10 + u64::from(*d))
}

/// STR^width_10: `value` as exactly `width` digits, most significant first.
fn push_digits(out: &mut Vec<u8>, value: u64, width: usize) {
    let start = out.len();
    out.resize(start + width, 0);
    let mut v = value;
    for slot in out[start..].iter_mut().rev() {
        *slot = (v % 10) as u8;
        v /= 10;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fpe::ff1::{FlexibleNumeralString, FF1};
    use proptest::prelude::*;

    fn digits(s: &str) -> Vec<u8> {
        s.bytes().map(|b| b - b'0').collect()
    }

    fn text(d: &[u8]) -> String {
        d.iter().map(|d| char::from(b'0' + d)).collect()
    }

    /// NIST SP 800-38G FF1 samples 7 and 8 (AES-256, radix 10).
    #[test]
    fn nist_samples() {
        let key: [u8; 32] =
            hex::decode("2B7E151628AED2A6ABF7158809CF4F3CEF4359D8D580AA4F7F036D6F04FC6A94")
                .unwrap()
                .try_into()
                .unwrap();
        let f = DecimalFf1::new(&key);
        let pt = digits("0123456789");
        let ct = f.encrypt(&[], &pt).unwrap();
        assert_eq!(text(&ct), "6657667009");
        assert_eq!(f.decrypt(&[], &ct).unwrap(), pt);
        let tweak = hex::decode("39383736353433323130").unwrap();
        let ct = f.encrypt(&tweak, &pt).unwrap();
        assert_eq!(text(&ct), "1001623463");
        assert_eq!(f.decrypt(&tweak, &ct).unwrap(), pt);
    }

    #[test]
    fn refuses_what_it_cannot_encrypt() {
        let f = DecimalFf1::new(&[7; 32]);
        assert_eq!(f.encrypt(b"t", &digits("12345")), None, "too short");
        assert_eq!(f.encrypt(b"t", &[1; 39]), None, "too long");
        assert_eq!(f.decrypt(b"t", &[1, 2, 3, 4, 5, 10]), None, "not a digit");
        assert!(f.encrypt(b"t", &[9; 38]).is_some());
    }

    proptest! {
        /// Digit for digit what the general big-integer implementation computes, for the
        /// lengths and tweaks zhenwei uses and for others.
        #[test]
        fn agrees_with_the_general_implementation(
            key in any::<[u8; 32]>(),
            tweak in proptest::collection::vec(any::<u8>(), 0..40),
            x in proptest::collection::vec(0u8..10, MIN_LEN..=MAX_LEN),
        ) {
            let ours = DecimalFf1::new(&key);
            let theirs = FF1::<aes::Aes256>::new(&key, 10).unwrap();
            let numerals = FlexibleNumeralString::from(x.iter().map(|d| u16::from(*d)).collect::<Vec<_>>());
            let expected: Vec<u16> = theirs.encrypt(&tweak, &numerals).unwrap().into();
            let ct = ours.encrypt(&tweak, &x).unwrap();
            prop_assert_eq!(ct.iter().map(|d| u16::from(*d)).collect::<Vec<_>>(), expected);
            prop_assert_eq!(ours.decrypt(&tweak, &ct).unwrap(), x);
        }
    }
}
