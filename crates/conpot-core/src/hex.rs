//! Lower-case hexadecimal encoding of bytes for event logs.

/// Encodes `bytes` as lower-case hex without separators.
pub fn encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        out.push(char::from_digit(u32::from(b >> 4), 16).unwrap_or('0'));
        out.push(char::from_digit(u32::from(b & 0x0f), 16).unwrap_or('0'));
    }
    out
}

/// Bytes displayed as lower-case hex, written straight into a formatter (no string).
#[derive(Debug, Clone, Copy)]
pub struct Hex<'a>(pub &'a [u8]);

impl std::fmt::Display for Hex<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        let mut buf = [0u8; 64];
        for chunk in self.0.chunks(32) {
            let mut n = 0;
            for &b in chunk {
                if let (Some(hi), Some(lo), Some(slot)) = (
                    DIGITS.get(usize::from(b >> 4)),
                    DIGITS.get(usize::from(b & 0x0f)),
                    buf.get_mut(n..n + 2),
                ) {
                    slot.copy_from_slice(&[*hi, *lo]);
                }
                n += 2;
            }
            f.write_str(std::str::from_utf8(buf.get(..n).unwrap_or_default()).unwrap_or_default())?;
        }
        Ok(())
    }
}

/// Decodes hex text (upper or lower case, no separators); `None` if it is not hex.
pub fn decode(text: &str) -> Option<Vec<u8>> {
    let bytes = text.as_bytes();
    if !bytes.len().is_multiple_of(2) {
        return None;
    }
    bytes
        .chunks_exact(2)
        .map(|pair| {
            let hi = char::from(*pair.first()?).to_digit(16)?;
            let lo = char::from(*pair.get(1)?).to_digit(16)?;
            u8::try_from(hi * 16 + lo).ok()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn round_trip() {
        assert_eq!(super::encode(&[0x00, 0xab, 0xff]), "00abff");
        assert_eq!(super::decode("00ABff"), Some(vec![0, 0xab, 0xff]));
        assert_eq!(super::decode("0g"), None);
        assert_eq!(super::decode("abc"), None);
        let long: Vec<u8> = (0..=255).collect();
        assert_eq!(super::Hex(&long).to_string(), super::encode(&long));
    }
}
