//! RFC 4648 base32hex, lowercase, unpadded: the text form of atom digests.

use super::DigestError;

const ALPHABET: &[u8; 32] = b"0123456789abcdefghijklmnopqrstuv";

/// Characters in the text form of 32 bytes: ceil(256 / 5).
pub(super) const DIGEST_CHARS: usize = 52;

/// Encodes `bytes`, five bits a character, the last character zero-padded on the right.
pub(super) fn encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity((bytes.len() * 8).div_ceil(5));
    let (mut acc, mut bits) = (0u16, 0u32);
    for &b in bytes {
        acc = (acc << 8) | u16::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(ALPHABET[usize::from((acc >> bits) & 31)] as char);
        }
        acc &= (1 << bits) - 1;
    }
    if bits > 0 {
        out.push(ALPHABET[usize::from((acc << (5 - bits)) & 31)] as char);
    }
    out
}

/// Decodes the canonical text of exactly 32 bytes (52 characters, zero padding bits).
pub(super) fn decode(text: &str) -> Result<[u8; 32], DigestError> {
    let mut out = [0u8; 32];
    let mut len = 0;
    let (mut acc, mut bits) = (0u16, 0u32);
    for (position, found) in text.chars().enumerate() {
        let value = match found {
            '0'..='9' => found as u16 - '0' as u16,
            'a'..='v' => found as u16 - 'a' as u16 + 10,
            _ => return Err(DigestError::InvalidBase32 { found, position }),
        };
        acc = (acc << 5) | value;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            if len == out.len() {
                return Err(DigestError::Blake3Bytes(text.chars().count()));
            }
            out[len] = (acc >> bits) as u8;
            len += 1;
            acc &= (1 << bits) - 1;
        }
    }
    if len != out.len() || text.len() != DIGEST_CHARS {
        return Err(DigestError::Blake3Bytes(text.chars().count()));
    }
    // The 4 bits past the 256th must be zero, otherwise two texts would name one digest.
    if acc != 0 {
        return Err(DigestError::NonCanonical);
    }
    Ok(out)
}
