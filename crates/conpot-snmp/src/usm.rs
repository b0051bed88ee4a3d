//! The User-based Security Model (RFC 3414, RFC 3826, RFC 7860): keys from passwords,
//! HMAC authentication (MD5, SHA-1, SHA-2) and privacy (DES-CBC, AES-128-CFB).

use des::cipher::{BlockCipherDecrypt, BlockCipherEncrypt, KeyInit, KeyIvInit};
use hmac::{Hmac, Mac};
use sha2::Digest;

/// An authentication protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuthProto {
    /// HMAC-MD5-96.
    Md5,
    /// HMAC-SHA-96.
    Sha1,
    /// HMAC-SHA-224 (128-bit MAC).
    Sha224,
    /// HMAC-SHA-256 (192-bit MAC).
    Sha256,
    /// HMAC-SHA-384 (256-bit MAC).
    Sha384,
    /// HMAC-SHA-512 (384-bit MAC).
    Sha512,
}

impl AuthProto {
    /// Parses a name (`md5`, `sha`/`sha1`, `sha224` ... `sha512`).
    pub fn parse(s: &str) -> Option<AuthProto> {
        Some(match s.to_ascii_lowercase().replace('-', "").as_str() {
            "md5" => AuthProto::Md5,
            "sha" | "sha1" => AuthProto::Sha1,
            "sha224" => AuthProto::Sha224,
            "sha256" => AuthProto::Sha256,
            "sha384" => AuthProto::Sha384,
            "sha512" => AuthProto::Sha512,
            _ => return None,
        })
    }

    /// The `auth.attempt` method of a message authenticated with this protocol.
    pub fn method(self) -> &'static str {
        match self {
            AuthProto::Md5 => "snmp-usm-md5",
            AuthProto::Sha1 => "snmp-usm-sha1",
            AuthProto::Sha224 => "snmp-usm-sha224",
            AuthProto::Sha256 => "snmp-usm-sha256",
            AuthProto::Sha384 => "snmp-usm-sha384",
            AuthProto::Sha512 => "snmp-usm-sha512",
        }
    }

    /// The MAC's name, with its truncated length in bits (the `hash_alg` of attempts).
    pub fn hmac_name(self) -> &'static str {
        match self {
            AuthProto::Md5 => "hmac-md5-96",
            AuthProto::Sha1 => "hmac-sha1-96",
            AuthProto::Sha224 => "hmac-sha224-128",
            AuthProto::Sha256 => "hmac-sha256-192",
            AuthProto::Sha384 => "hmac-sha384-256",
            AuthProto::Sha512 => "hmac-sha512-384",
        }
    }

    /// Length of the MAC carried in messages.
    pub fn mac_len(self) -> usize {
        match self {
            AuthProto::Md5 | AuthProto::Sha1 => 12,
            AuthProto::Sha224 => 16,
            AuthProto::Sha256 => 24,
            AuthProto::Sha384 => 32,
            AuthProto::Sha512 => 48,
        }
    }

    fn hash(self, data: &[&[u8]]) -> Vec<u8> {
        fn h<D: Digest>(data: &[&[u8]]) -> Vec<u8> {
            let mut d = D::new();
            for p in data {
                d.update(p);
            }
            d.finalize().to_vec()
        }
        match self {
            AuthProto::Md5 => h::<md5::Md5>(data),
            AuthProto::Sha1 => h::<sha1::Sha1>(data),
            AuthProto::Sha224 => h::<sha2::Sha224>(data),
            AuthProto::Sha256 => h::<sha2::Sha256>(data),
            AuthProto::Sha384 => h::<sha2::Sha384>(data),
            AuthProto::Sha512 => h::<sha2::Sha512>(data),
        }
    }

    /// The localized key of `password` for `engine_id` (RFC 3414 A.2): the digest of
    /// 1 MiB of the repeated password, then of that key around the engine id. Hashed in
    /// 64-byte pieces, so nothing large is allocated. The first digest (which does not
    /// depend on the engine) is kept per protocol and password for the process, so a
    /// sensor serving many personas of one template stretches each password once.
    pub fn localized_key(self, password: &[u8], engine_id: &[u8]) -> Vec<u8> {
        let ku = stretched(self, password);
        self.hash(&[&ku, engine_id, &ku])
    }

    /// The MAC of `msg` (with its MAC field zeroed) under `key`, truncated.
    pub fn mac(self, key: &[u8], msg: &[u8]) -> Vec<u8> {
        fn m<M: Mac + hmac::KeyInit>(key: &[u8], msg: &[u8]) -> Vec<u8> {
            match <M as hmac::KeyInit>::new_from_slice(key) {
                Ok(mut mac) => {
                    mac.update(msg);
                    mac.finalize().into_bytes().to_vec()
                }
                Err(_) => Vec::new(),
            }
        }
        let mut full = match self {
            AuthProto::Md5 => m::<Hmac<md5::Md5>>(key, msg),
            AuthProto::Sha1 => m::<Hmac<sha1::Sha1>>(key, msg),
            AuthProto::Sha224 => m::<Hmac<sha2::Sha224>>(key, msg),
            AuthProto::Sha256 => m::<Hmac<sha2::Sha256>>(key, msg),
            AuthProto::Sha384 => m::<Hmac<sha2::Sha384>>(key, msg),
            AuthProto::Sha512 => m::<Hmac<sha2::Sha512>>(key, msg),
        };
        full.truncate(self.mac_len());
        full
    }
}

/// Most stretched passwords kept (a template has a handful of SNMPv3 accounts; personas
/// of one template share them): past it nothing more is kept, only computed.
const STRETCH_CACHE: usize = 256;

/// The password-to-key digest of RFC 3414 A.2 (1 MiB of the repeated password), memoized.
fn stretched(proto: AuthProto, password: &[u8]) -> Vec<u8> {
    type Cache = std::sync::Mutex<std::collections::HashMap<(AuthProto, Vec<u8>), Vec<u8>>>;
    static CACHE: std::sync::OnceLock<Cache> = std::sync::OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    if let Ok(c) = cache.lock()
        && let Some(ku) = c.get(&(proto, password.to_vec()))
    {
        return ku.clone();
    }
    let ku = match proto {
        AuthProto::Md5 => stretch::<md5::Md5>(password),
        AuthProto::Sha1 => stretch::<sha1::Sha1>(password),
        AuthProto::Sha224 => stretch::<sha2::Sha224>(password),
        AuthProto::Sha256 => stretch::<sha2::Sha256>(password),
        AuthProto::Sha384 => stretch::<sha2::Sha384>(password),
        AuthProto::Sha512 => stretch::<sha2::Sha512>(password),
    };
    if let Ok(mut c) = cache.lock()
        && c.len() < STRETCH_CACHE
    {
        c.insert((proto, password.to_vec()), ku.clone());
    }
    ku
}

/// The digest of 1 MiB of `password` repeated, fed in 64-byte pieces cut from one
/// buffer holding the password repeated past 64 bytes (the pieces repeat with the
/// password's length as period).
fn stretch<D: Digest>(password: &[u8]) -> Vec<u8> {
    let mut d = D::new();
    if !password.is_empty() {
        let len = password.len();
        let pattern: Vec<u8> = password.iter().copied().cycle().take(len + 64).collect();
        let mut at = 0usize;
        for _ in 0..(1 << 20) / 64 {
            if let Some(piece) = pattern.get(at..at + 64) {
                d.update(piece);
            }
            at = (at + 64) % len;
        }
    }
    d.finalize().to_vec()
}

/// A privacy protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrivProto {
    /// CBC-DES.
    Des,
    /// CFB128-AES-128.
    Aes128,
}

impl PrivProto {
    /// Parses a name (`des`, `aes`/`aes128`).
    pub fn parse(s: &str) -> Option<PrivProto> {
        match s.to_ascii_lowercase().replace('-', "").as_str() {
            "des" => Some(PrivProto::Des),
            "aes" | "aes128" => Some(PrivProto::Aes128),
            _ => None,
        }
    }

    /// Decrypts `data` with the localized privacy key; `salt` is the message's privacy
    /// parameters. `None` if the lengths are wrong.
    pub fn decrypt(self, key: &[u8], boots: u32, time: u32, salt: &[u8], data: &[u8]) -> Option<Vec<u8>> {
        let mut buf = data.to_vec();
        match self {
            PrivProto::Des => {
                if salt.len() != 8 || !buf.len().is_multiple_of(8) || key.len() < 16 {
                    return None;
                }
                let cipher = des::Des::new_from_slice(key.get(..8)?).ok()?;
                let mut prev: [u8; 8] = iv_des(key, salt)?;
                for chunk in buf.chunks_exact_mut(8) {
                    let ct: [u8; 8] = chunk.try_into().ok()?;
                    let mut block = des::cipher::Array::from(ct);
                    cipher.decrypt_block(&mut block);
                    for (i, b) in chunk.iter_mut().enumerate() {
                        *b = block.get(i).copied().unwrap_or(0) ^ prev.get(i).copied().unwrap_or(0);
                    }
                    prev = ct;
                }
                Some(buf)
            }
            PrivProto::Aes128 => {
                if salt.len() != 8 {
                    return None;
                }
                let iv = iv_aes(boots, time, salt);
                let d = cfb_mode::Decryptor::<aes::Aes128>::new_from_slices(key.get(..16)?, &iv).ok()?;
                d.decrypt(&mut buf);
                Some(buf)
            }
        }
    }

    /// Encrypts `data`; `salt` is the 8-byte value sent as privacy parameters.
    pub fn encrypt(self, key: &[u8], boots: u32, time: u32, salt: &[u8; 8], data: &[u8]) -> Option<Vec<u8>> {
        let mut buf = data.to_vec();
        match self {
            PrivProto::Des => {
                buf.resize(buf.len().div_ceil(8) * 8, 0);
                let cipher = des::Des::new_from_slice(key.get(..8)?).ok()?;
                let mut prev: [u8; 8] = iv_des(key, salt)?;
                for chunk in buf.chunks_exact_mut(8) {
                    let mut x = [0u8; 8];
                    for (i, v) in x.iter_mut().enumerate() {
                        *v = chunk.get(i).copied().unwrap_or(0) ^ prev.get(i).copied().unwrap_or(0);
                    }
                    let mut block = des::cipher::Array::from(x);
                    cipher.encrypt_block(&mut block);
                    chunk.copy_from_slice(block.as_slice());
                    prev.copy_from_slice(block.as_slice());
                }
                Some(buf)
            }
            PrivProto::Aes128 => {
                let iv = iv_aes(boots, time, salt);
                let e = cfb_mode::Encryptor::<aes::Aes128>::new_from_slices(key.get(..16)?, &iv).ok()?;
                e.encrypt(&mut buf);
                Some(buf)
            }
        }
    }
}

fn iv_des(key: &[u8], salt: &[u8]) -> Option<[u8; 8]> {
    let pre = key.get(8..16)?;
    let mut iv = [0u8; 8];
    for (i, v) in iv.iter_mut().enumerate() {
        *v = pre.get(i)? ^ salt.get(i)?;
    }
    Some(iv)
}

fn iv_aes(boots: u32, time: u32, salt: &[u8]) -> [u8; 16] {
    let mut iv = [0u8; 16];
    iv[..4].copy_from_slice(&boots.to_be_bytes());
    iv[4..8].copy_from_slice(&time.to_be_bytes());
    for (d, s) in iv[8..].iter_mut().zip(salt) {
        *d = *s;
    }
    iv
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3414_key_localization() {
        // RFC 3414 A.3.1 / A.3.2: password "maplesyrup", engine id 00..02.
        let engine = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2];
        assert_eq!(
            conpot_core::hex::encode(&AuthProto::Md5.localized_key(b"maplesyrup", &engine)),
            "526f5eed9fcce26f8964c2930787d82b"
        );
        assert_eq!(
            conpot_core::hex::encode(&AuthProto::Sha1.localized_key(b"maplesyrup", &engine)),
            "6695febc9288e36282235fc7151f128497b38f3f"
        );
    }

    #[test]
    fn privacy_round_trips() {
        let key = AuthProto::Sha1.localized_key(b"privkey1", b"engine");
        let salt = [1, 2, 3, 4, 5, 6, 7, 8];
        for p in [PrivProto::Des, PrivProto::Aes128] {
            let ct = p.encrypt(&key, 3, 99, &salt, b"hello scoped pdu").unwrap();
            assert_ne!(&ct[..], b"hello scoped pdu");
            let pt = p.decrypt(&key, 3, 99, &salt, &ct).unwrap();
            assert_eq!(&pt[..16], b"hello scoped pdu");
        }
        assert_eq!(PrivProto::Des.decrypt(&key, 0, 0, &salt, &[0; 7]), None);
        assert_eq!(AuthProto::Sha256.mac(&[1; 32], b"x").len(), 24);
    }

    #[test]
    fn stretching_cuts_the_repeated_password_at_every_length() {
        // The definition: 1 MiB of the password repeated, hashed at once.
        for len in [1usize, 7, 63, 64, 65, 130, 300] {
            let password: Vec<u8> = (0..len).map(|i| (i * 31 + 7) as u8).collect();
            let mib: Vec<u8> = password.iter().copied().cycle().take(1 << 20).collect();
            let expected = sha1::Sha1::digest(&mib).to_vec();
            assert_eq!(stretch::<sha1::Sha1>(&password), expected, "length {len}");
            // Memoized, and the same again.
            assert_eq!(stretched(AuthProto::Sha1, &password), expected);
            assert_eq!(stretched(AuthProto::Sha1, &password), expected);
        }
    }
}
