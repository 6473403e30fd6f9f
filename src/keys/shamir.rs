//! Shamir secret sharing over GF(2^8) as sops does it: one random polynomial per secret byte,
//! the AES field polynomial 0x11B, and shares laid out as the y-values followed by one x byte.
//!
//! sops 3.11 evaluates share `i` (0-based group index) at `x = i + 1`; [`combine`] accepts any
//! distinct non-zero x values, so it also reads files written by later versions that pick x at
//! random. Field arithmetic is branch-free in the secret values.

use rand::RngCore;
use zeroize::{Zeroize, Zeroizing};

/// Why shares could not be made or combined.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ShamirError {
    #[error(
        "Shamir threshold {threshold} is invalid for {parts} key groups: it must be at least 2 and at most the number of groups"
    )]
    InvalidThreshold { threshold: usize, parts: usize },
    #[error("at most 255 Shamir key groups are possible, got {0}")]
    TooManyParts(usize),
    #[error("cannot split an empty secret")]
    EmptySecret,
    #[error("at least two Shamir shares are needed to recover the data key, got {0}")]
    TooFewShares(usize),
    #[error("Shamir shares must all have the same length of at least two bytes")]
    MalformedShares,
    #[error("two Shamir shares have the same x coordinate (or one has x = 0)")]
    DuplicateShare,
}

/// Multiplication in GF(2^8) modulo x^8 + x^4 + x^3 + x + 1, without secret-dependent branches.
fn mul(mut a: u8, mut b: u8) -> u8 {
    let mut product = 0u8;
    for _ in 0..8 {
        product ^= a & 0u8.wrapping_sub(b & 1);
        let carry = a >> 7;
        a = (a << 1) ^ (0x1b & 0u8.wrapping_sub(carry));
        b >>= 1;
    }
    product
}

/// The multiplicative inverse, as a^254 (the exponent is fixed, so the loop is too).
fn inv(a: u8) -> u8 {
    let mut result = 1u8;
    let mut base = a;
    let mut exponent = 254u8;
    while exponent > 0 {
        if exponent & 1 == 1 {
            result = mul(result, base);
        }
        base = mul(base, base);
        exponent >>= 1;
    }
    result
}

/// Splits `secret` into `parts` shares of which any `threshold` recover it. Share `i` is
/// evaluated at `x = i + 1`, which is written as its last byte.
pub fn split(
    secret: &[u8],
    parts: usize,
    threshold: usize,
) -> Result<Vec<Zeroizing<Vec<u8>>>, ShamirError> {
    if parts > 255 {
        return Err(ShamirError::TooManyParts(parts));
    }
    if threshold < 2 || threshold > parts {
        return Err(ShamirError::InvalidThreshold { threshold, parts });
    }
    if secret.is_empty() {
        return Err(ShamirError::EmptySecret);
    }
    let mut shares: Vec<Zeroizing<Vec<u8>>> = (0..parts)
        .map(|i| {
            let mut share = Zeroizing::new(vec![0u8; secret.len() + 1]);
            share[secret.len()] = (i + 1) as u8;
            share
        })
        .collect();
    let mut coefficients = Zeroizing::new(vec![0u8; threshold]);
    for (idx, &byte) in secret.iter().enumerate() {
        coefficients[0] = byte;
        rand::rngs::OsRng.fill_bytes(&mut coefficients[1..]);
        for share in shares.iter_mut() {
            let x = share[secret.len()];
            // Horner's method, highest coefficient first.
            let mut y = 0u8;
            for &c in coefficients.iter().rev() {
                y = mul(y, x) ^ c;
            }
            share[idx] = y;
        }
    }
    coefficients.zeroize();
    Ok(shares)
}

/// Recovers the secret from at least two shares by Lagrange interpolation at x = 0. Any subset
/// of at least `threshold` shares of one split gives the secret; fewer give unrelated bytes.
pub fn combine<S: AsRef<[u8]>>(shares: &[S]) -> Result<Zeroizing<Vec<u8>>, ShamirError> {
    if shares.len() < 2 {
        return Err(ShamirError::TooFewShares(shares.len()));
    }
    let len = shares[0].as_ref().len();
    if len < 2 || shares.iter().any(|s| s.as_ref().len() != len) {
        return Err(ShamirError::MalformedShares);
    }
    let xs: Vec<u8> = shares.iter().map(|s| s.as_ref()[len - 1]).collect();
    for (i, &x) in xs.iter().enumerate() {
        if x == 0 || xs[..i].contains(&x) {
            return Err(ShamirError::DuplicateShare);
        }
    }
    // The Lagrange basis at 0 depends only on the (public) x values: l_i = Π x_j / (x_i + x_j).
    let basis: Vec<u8> = xs
        .iter()
        .enumerate()
        .map(|(i, &xi)| {
            xs.iter()
                .enumerate()
                .filter(|&(j, _)| j != i)
                .fold(1u8, |acc, (_, &xj)| mul(acc, mul(xj, inv(xi ^ xj))))
        })
        .collect();
    let mut secret = Zeroizing::new(vec![0u8; len - 1]);
    for (idx, out) in secret.iter_mut().enumerate() {
        *out = shares.iter().zip(&basis).fold(0u8, |acc, (s, &l)| acc ^ mul(s.as_ref()[idx], l));
    }
    Ok(secret)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Shares from the fixture `shamir.enc.yaml` (manifest.json `shamir_shares`), written by sops 3.11.
    const FIXTURE_SHARES: [&str; 3] = [
        "476345ebfc8a7941564a8f978114bd2b88ee1598d58dd86f41697bbe11f0bf7d01",
        "b9b4623c7c89ddafec5712820b0a5e665065fe58d19d4d16b2add1f4b1971b6002",
        "1af97f71f58848f5735c90788400f65d181ca71824643ec8e318b73bd1438e6b03",
    ];
    const FIXTURE_KEY: &str = "e42e58a6758bec1bc9410d6d0e1e1510c0974cd82074abb110dc1d7171242a76";

    #[test]
    fn field_multiplication_matches_the_aes_field() {
        // FIPS-197 §4.2: {57} • {83} = {c1}, {57} • {13} = {fe}.
        assert_eq!(mul(0x57, 0x83), 0xc1);
        assert_eq!(mul(0x57, 0x13), 0xfe);
        for a in 1..=255u8 {
            assert_eq!(mul(a, inv(a)), 1, "inverse of {a:#x}");
            assert_eq!(mul(a, 0), 0);
        }
    }

    #[test]
    fn any_two_fixture_shares_give_the_sops_data_key() {
        let shares: Vec<Vec<u8>> = FIXTURE_SHARES.iter().map(|h| hex::decode(h).unwrap()).collect();
        for (a, b) in [(0, 1), (0, 2), (1, 2), (2, 0), (1, 0)] {
            let key = combine(&[&shares[a], &shares[b]]).unwrap();
            assert_eq!(hex::encode(&*key), FIXTURE_KEY, "shares {a} and {b}");
        }
        assert_eq!(hex::encode(&*combine(&shares).unwrap()), FIXTURE_KEY);
    }

    #[test]
    fn one_fixture_share_is_not_enough() {
        let share = hex::decode(FIXTURE_SHARES[0]).unwrap();
        assert_eq!(combine(&[&share]), Err(ShamirError::TooFewShares(1)));
    }

    #[test]
    fn split_then_combine_round_trips_for_every_threshold_subset() {
        let secret: Vec<u8> = (0..32u8).map(|i| i.wrapping_mul(37) ^ 0xa5).collect();
        for parts in 2..=5usize {
            for threshold in 2..=parts {
                let shares = split(&secret, parts, threshold).unwrap();
                assert_eq!(shares.len(), parts);
                for (i, s) in shares.iter().enumerate() {
                    assert_eq!(s.len(), 33);
                    assert_eq!(s[32], (i + 1) as u8, "x = i + 1 as sops 3.11 writes");
                }
                // Every subset of exactly `threshold` shares.
                for mask in 0u32..(1 << parts) {
                    if mask.count_ones() as usize != threshold {
                        continue;
                    }
                    let subset: Vec<&[u8]> = (0..parts)
                        .filter(|i| mask & (1 << i) != 0)
                        .map(|i| shares[i].as_slice())
                        .collect();
                    assert_eq!(&*combine(&subset).unwrap(), &secret[..], "{parts}/{threshold}");
                }
            }
        }
    }

    #[test]
    fn fewer_than_threshold_shares_do_not_reveal_the_secret() {
        let secret = [0x42u8; 32];
        let shares = split(&secret, 3, 3).unwrap();
        let partial = combine(&[&shares[0], &shares[1]]).unwrap();
        assert_ne!(&*partial, &secret[..]);
    }

    #[test]
    fn rejects_bad_thresholds_and_shares() {
        assert_eq!(
            split(&[1], 2, 1).unwrap_err(),
            ShamirError::InvalidThreshold { threshold: 1, parts: 2 }
        );
        assert_eq!(
            split(&[1], 2, 3).unwrap_err(),
            ShamirError::InvalidThreshold { threshold: 3, parts: 2 }
        );
        assert_eq!(split(&[], 2, 2).unwrap_err(), ShamirError::EmptySecret);
        assert_eq!(split(&[1], 256, 2).unwrap_err(), ShamirError::TooManyParts(256));
        assert_eq!(combine(&[&[1u8, 1][..], &[2u8, 2, 2][..]]), Err(ShamirError::MalformedShares));
        assert_eq!(combine(&[&[1u8, 1][..], &[2u8, 1][..]]), Err(ShamirError::DuplicateShare));
        assert_eq!(combine(&[&[1u8, 0][..], &[2u8, 1][..]]), Err(ShamirError::DuplicateShare));
        assert_eq!(combine(&[&[1u8][..], &[2u8][..]]), Err(ShamirError::MalformedShares));
    }
}
