//! `X-Hub-Signature-256: sha256=<hex>`: HMAC-SHA256 of the raw body keyed with the
//! webhook secret, compared in constant time (`Mac::verify_slice`).

use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

pub const HEADER: &str = "x-hub-signature-256";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureError {
    Missing,
    /// Not `sha256=` followed by 64 hex digits.
    Malformed,
    Mismatch,
}

impl SignatureError {
    pub fn reason(self) -> &'static str {
        match self {
            SignatureError::Missing => "missing X-Hub-Signature-256 header",
            SignatureError::Malformed => "malformed X-Hub-Signature-256 header",
            SignatureError::Mismatch => "invalid signature",
        }
    }
}

/// Checks `header` against the HMAC of exactly the bytes received.
pub fn verify(secret: &[u8], body: &[u8], header: Option<&str>) -> Result<(), SignatureError> {
    let header = header.ok_or(SignatureError::Missing)?;
    let hex = header
        .strip_prefix("sha256=")
        .ok_or(SignatureError::Malformed)?;
    let expected = decode_hex(hex).ok_or(SignatureError::Malformed)?;
    if expected.len() != 32 {
        return Err(SignatureError::Malformed);
    }
    let mut mac = HmacSha256::new_from_slice(secret).expect("HMAC takes keys of any length");
    mac.update(body);
    mac.verify_slice(&expected)
        .map_err(|_| SignatureError::Mismatch)
}

/// The header value GitHub would send for `body` (tests and the benchmark sign with it).
pub fn sign(secret: &[u8], body: &[u8]) -> String {
    let mut mac = HmacSha256::new_from_slice(secret).expect("HMAC takes keys of any length");
    mac.update(body);
    let digest = mac.finalize().into_bytes();
    let mut out = String::with_capacity(7 + 64);
    out.push_str("sha256=");
    for byte in digest {
        out.push_str(&format!("{byte:02x}"));
    }
    out
}

/// Lower- or upper-case hex (GitHub sends lower case; README allows either).
fn decode_hex(text: &str) -> Option<Vec<u8>> {
    if text.len() % 2 != 0 {
        return None;
    }
    let digit = |c: u8| -> Option<u8> {
        match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            b'A'..=b'F' => Some(c - b'A' + 10),
            _ => None,
        }
    };
    text.as_bytes()
        .chunks(2)
        .map(|pair| Some(digit(pair[0])? << 4 | digit(pair[1])?))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// GitHub's documented test vector ("Validating webhook deliveries").
    const SECRET: &[u8] = b"It's a Secret to Everybody";
    const PAYLOAD: &[u8] = b"Hello, World!";
    const EXPECTED: &str =
        "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";

    #[test]
    fn github_test_vector() {
        assert_eq!(sign(SECRET, PAYLOAD), EXPECTED);
        assert_eq!(verify(SECRET, PAYLOAD, Some(EXPECTED)), Ok(()));
    }

    #[test]
    fn rejects_everything_else() {
        assert_eq!(
            verify(SECRET, b"Hello, World?", Some(EXPECTED)),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(b"It's a Secret to Everybody ", PAYLOAD, Some(EXPECTED)),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(verify(SECRET, PAYLOAD, None), Err(SignatureError::Missing));
        let bare = EXPECTED.trim_start_matches("sha256=");
        assert_eq!(
            verify(SECRET, PAYLOAD, Some(bare)),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            verify(SECRET, PAYLOAD, Some("sha256=zz")),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            verify(SECRET, PAYLOAD, Some(&EXPECTED[..EXPECTED.len() - 2])),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            verify(SECRET, PAYLOAD, Some(&format!("sha1={bare}"))),
            Err(SignatureError::Malformed)
        );
    }

    #[test]
    fn upper_case_hex_is_accepted() {
        let upper = format!("sha256={}", EXPECTED[7..].to_ascii_uppercase());
        assert_eq!(verify(SECRET, PAYLOAD, Some(&upper)), Ok(()));
    }
}
