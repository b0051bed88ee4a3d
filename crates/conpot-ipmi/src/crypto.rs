//! The algorithms of RMCP+ (IPMI v2.0 section 13.28): RAKP authentication (HMAC-SHA1,
//! HMAC-MD5, HMAC-SHA256), integrity (HMAC-SHA1-96, HMAC-MD5-128, HMAC-SHA256-128),
//! confidentiality (AES-CBC-128), the cipher suites they form, and the IPMI 1.5 MD5
//! authentication code.

use aes::cipher::{BlockCipherDecrypt, BlockCipherEncrypt, KeyInit};
use hmac::{Hmac, Mac};
use md5::Digest;

/// A RAKP authentication algorithm (the key-exchange HMAC).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthAlg {
    /// RAKP-none: no key exchange code at all (cipher suite 0, refused).
    None,
    /// RAKP-HMAC-SHA1 (algorithm 1).
    Sha1,
    /// RAKP-HMAC-MD5 (algorithm 2).
    Md5,
    /// RAKP-HMAC-SHA256 (algorithm 3).
    Sha256,
}

impl AuthAlg {
    /// The algorithm of number `n` in an Open Session payload.
    pub fn from_u8(n: u8) -> Option<AuthAlg> {
        Some(match n {
            0 => AuthAlg::None,
            1 => AuthAlg::Sha1,
            2 => AuthAlg::Md5,
            3 => AuthAlg::Sha256,
            _ => return None,
        })
    }

    /// The algorithm's number.
    pub fn number(self) -> u8 {
        match self {
            AuthAlg::None => 0,
            AuthAlg::Sha1 => 1,
            AuthAlg::Md5 => 2,
            AuthAlg::Sha256 => 3,
        }
    }

    /// The HMAC of the concatenated `parts` under `key` (empty for `None`).
    pub fn hmac(self, key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
        match self {
            AuthAlg::None => Vec::new(),
            AuthAlg::Sha1 => hmac::<Hmac<sha1::Sha1>>(key, parts),
            AuthAlg::Md5 => hmac::<Hmac<md5::Md5>>(key, parts),
            AuthAlg::Sha256 => hmac::<Hmac<sha2::Sha256>>(key, parts),
        }
    }

    /// How many bytes of the RAKP4 integrity check value are sent (SHA1: 96 bits).
    pub fn icv_len(self) -> usize {
        match self {
            AuthAlg::None => 0,
            AuthAlg::Sha1 => 12,
            AuthAlg::Md5 | AuthAlg::Sha256 => 16,
        }
    }

    /// The `auth.attempt` method of a RAKP login with this algorithm.
    pub fn method(self) -> &'static str {
        match self {
            AuthAlg::None => "rakp-none",
            AuthAlg::Sha1 => "rakp-hmac-sha1",
            AuthAlg::Md5 => "rakp-hmac-md5",
            AuthAlg::Sha256 => "rakp-hmac-sha256",
        }
    }

    /// The hash function, as `auth.attempt` names it.
    pub fn hash_alg(self) -> &'static str {
        match self {
            AuthAlg::None => "",
            AuthAlg::Sha1 => "hmac-sha1",
            AuthAlg::Md5 => "hmac-md5",
            AuthAlg::Sha256 => "hmac-sha256",
        }
    }
}

/// An integrity algorithm: the AuthCode trailer of authenticated RMCP+ packets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IntegrityAlg {
    /// No trailer.
    None,
    /// HMAC-SHA1-96 (algorithm 1).
    Sha1_96,
    /// HMAC-MD5-128 (algorithm 2).
    Md5_128,
    /// HMAC-SHA256-128 (algorithm 4).
    Sha256_128,
}

impl IntegrityAlg {
    /// The algorithm of number `n`; MD5-128 (3, a keyed plain MD5) is not offered.
    pub fn from_u8(n: u8) -> Option<IntegrityAlg> {
        Some(match n {
            0 => IntegrityAlg::None,
            1 => IntegrityAlg::Sha1_96,
            2 => IntegrityAlg::Md5_128,
            4 => IntegrityAlg::Sha256_128,
            _ => return None,
        })
    }

    /// The algorithm's number.
    pub fn number(self) -> u8 {
        match self {
            IntegrityAlg::None => 0,
            IntegrityAlg::Sha1_96 => 1,
            IntegrityAlg::Md5_128 => 2,
            IntegrityAlg::Sha256_128 => 4,
        }
    }

    /// Length of the AuthCode.
    pub fn code_len(self) -> usize {
        match self {
            IntegrityAlg::None => 0,
            IntegrityAlg::Sha1_96 => 12,
            IntegrityAlg::Md5_128 | IntegrityAlg::Sha256_128 => 16,
        }
    }

    /// The AuthCode of `data` under the session's K1.
    pub fn mac(self, k1: &[u8], data: &[u8]) -> Vec<u8> {
        let mut full = match self {
            IntegrityAlg::None => Vec::new(),
            IntegrityAlg::Sha1_96 => hmac::<Hmac<sha1::Sha1>>(k1, &[data]),
            IntegrityAlg::Md5_128 => hmac::<Hmac<md5::Md5>>(k1, &[data]),
            IntegrityAlg::Sha256_128 => hmac::<Hmac<sha2::Sha256>>(k1, &[data]),
        };
        full.truncate(self.code_len());
        full
    }
}

/// A confidentiality algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfAlg {
    /// Clear payloads.
    None,
    /// AES-CBC-128 (algorithm 1), keyed with the first 16 bytes of K2.
    AesCbc128,
}

impl ConfAlg {
    /// The algorithm of number `n`; the xRC4 variants are not offered.
    pub fn from_u8(n: u8) -> Option<ConfAlg> {
        Some(match n {
            0 => ConfAlg::None,
            1 => ConfAlg::AesCbc128,
            _ => return None,
        })
    }

    /// The algorithm's number.
    pub fn number(self) -> u8 {
        match self {
            ConfAlg::None => 0,
            ConfAlg::AesCbc128 => 1,
        }
    }
}

/// One cipher suite: its id and the three algorithms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Suite {
    /// The cipher suite id (IPMI v2.0 table 22-19).
    pub id: u8,
    /// Authentication.
    pub auth: AuthAlg,
    /// Integrity.
    pub integrity: IntegrityAlg,
    /// Confidentiality.
    pub conf: ConfAlg,
}

const fn suite(id: u8, auth: AuthAlg, integrity: IntegrityAlg, conf: ConfAlg) -> Suite {
    Suite {
        id,
        auth,
        integrity,
        conf,
    }
}

/// The cipher suites this BMC negotiates, in the order Get Channel Cipher Suites lists
/// them. Suite 0 (no authentication) is absent, as on a hardened BMC.
pub const SUITES: &[Suite] = &[
    suite(1, AuthAlg::Sha1, IntegrityAlg::None, ConfAlg::None),
    suite(2, AuthAlg::Sha1, IntegrityAlg::Sha1_96, ConfAlg::None),
    suite(3, AuthAlg::Sha1, IntegrityAlg::Sha1_96, ConfAlg::AesCbc128),
    suite(6, AuthAlg::Md5, IntegrityAlg::None, ConfAlg::None),
    suite(7, AuthAlg::Md5, IntegrityAlg::Md5_128, ConfAlg::None),
    suite(8, AuthAlg::Md5, IntegrityAlg::Md5_128, ConfAlg::AesCbc128),
    suite(15, AuthAlg::Sha256, IntegrityAlg::None, ConfAlg::None),
    suite(16, AuthAlg::Sha256, IntegrityAlg::Sha256_128, ConfAlg::None),
    suite(17, AuthAlg::Sha256, IntegrityAlg::Sha256_128, ConfAlg::AesCbc128),
];

/// Suite 3 (HMAC-SHA1, HMAC-SHA1-96, AES-CBC-128), the one every console speaks.
pub const DEFAULT_SUITE: Suite = suite(3, AuthAlg::Sha1, IntegrityAlg::Sha1_96, ConfAlg::AesCbc128);

/// The suite made of these three algorithms, if this BMC offers it.
pub fn find_suite(auth: AuthAlg, integrity: IntegrityAlg, conf: ConfAlg) -> Option<Suite> {
    SUITES
        .iter()
        .copied()
        .find(|s| s.auth == auth && s.integrity == integrity && s.conf == conf)
}

fn hmac<M: Mac + KeyInit>(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    match <M as KeyInit>::new_from_slice(key) {
        Ok(mut mac) => {
            for p in parts {
                mac.update(p);
            }
            mac.finalize().into_bytes().to_vec()
        }
        Err(_) => Vec::new(),
    }
}

/// The 20-byte constants K1 and K2 are derived from (IPMI v2.0 section 13.32).
const CONST_1: [u8; 20] = [1; 20];
const CONST_2: [u8; 20] = [2; 20];

/// Session keys derived from the Session Integrity Key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keys {
    /// The SIK itself (RAKP4's integrity check value is keyed with it).
    pub sik: Vec<u8>,
    /// K1: keys the integrity AuthCode.
    pub k1: Vec<u8>,
    /// K2: its first 16 bytes key AES-CBC-128.
    pub k2: Vec<u8>,
}

impl Keys {
    /// Derives K1 and K2 from `sik` with the session's authentication algorithm.
    pub fn derive(auth: AuthAlg, sik: Vec<u8>) -> Keys {
        let k1 = auth.hmac(&sik, &[&CONST_1]);
        let k2 = auth.hmac(&sik, &[&CONST_2]);
        Keys { sik, k1, k2 }
    }
}

/// AES block size.
pub const AES_BLOCK: usize = 16;

/// Encrypts `data` with AES-CBC-128 under `key` (16 bytes) and `iv`, after IPMI's
/// confidentiality padding (pad bytes 1, 2, 3, ... then the pad length) to a whole block.
pub fn aes_encrypt(key: &[u8], iv: &[u8; AES_BLOCK], data: &[u8]) -> Option<Vec<u8>> {
    let cipher = aes::Aes128::new_from_slice(key.get(..AES_BLOCK)?).ok()?;
    let pad = (AES_BLOCK - (data.len() + 1) % AES_BLOCK) % AES_BLOCK;
    let mut buf = data.to_vec();
    buf.extend((1..=pad).map(|i| i as u8));
    buf.push(pad as u8);
    let mut prev = *iv;
    for chunk in buf.chunks_exact_mut(AES_BLOCK) {
        let mut x = [0u8; AES_BLOCK];
        for ((v, c), p) in x.iter_mut().zip(chunk.iter()).zip(prev.iter()) {
            *v = c ^ p;
        }
        let mut block = aes::cipher::Array::from(x);
        cipher.encrypt_block(&mut block);
        chunk.copy_from_slice(block.as_slice());
        prev.copy_from_slice(block.as_slice());
    }
    Some(buf)
}

/// Decrypts AES-CBC-128 `data` (whole blocks) and strips IPMI's confidentiality padding;
/// `None` if the lengths or the padding are wrong.
pub fn aes_decrypt(key: &[u8], iv: &[u8], data: &[u8]) -> Option<Vec<u8>> {
    if data.is_empty() || !data.len().is_multiple_of(AES_BLOCK) {
        return None;
    }
    let cipher = aes::Aes128::new_from_slice(key.get(..AES_BLOCK)?).ok()?;
    let mut prev: [u8; AES_BLOCK] = iv.try_into().ok()?;
    let mut buf = data.to_vec();
    for chunk in buf.chunks_exact_mut(AES_BLOCK) {
        let ct: [u8; AES_BLOCK] = (&*chunk).try_into().ok()?;
        let mut block = aes::cipher::Array::from(ct);
        cipher.decrypt_block(&mut block);
        for ((c, b), p) in chunk.iter_mut().zip(block.iter()).zip(prev.iter()) {
            *c = b ^ p;
        }
        prev = ct;
    }
    let pad = usize::from(*buf.last()?);
    if pad >= AES_BLOCK || pad + 1 > buf.len() {
        return None;
    }
    buf.truncate(buf.len() - pad - 1);
    Some(buf)
}

/// A password as IPMI keys with it: NUL-padded to 16 bytes (20 for IPMI 2.0 passwords
/// longer than 16), longer ones cut.
pub fn password_key(password: &str, len: usize) -> Vec<u8> {
    let mut k: Vec<u8> = password.bytes().take(len).collect();
    k.resize(len, 0);
    k
}

/// The IPMI 1.5 MD5 AuthCode: MD5(password, session id, message, sequence, password).
pub fn md5_authcode(password: &str, session_id: u32, message: &[u8], seq: u32) -> [u8; 16] {
    authcode::<md5::Md5>(password, session_id, message, seq)
}

/// The IPMI 1.5 MD2 AuthCode, built as the MD5 one.
pub fn md2_authcode(password: &str, session_id: u32, message: &[u8], seq: u32) -> [u8; 16] {
    authcode::<md2::Md2>(password, session_id, message, seq)
}

fn authcode<D: Digest>(password: &str, session_id: u32, message: &[u8], seq: u32) -> [u8; 16] {
    let pw = password_key(password, 16);
    let mut d = D::new();
    d.update(&pw);
    d.update(session_id.to_le_bytes());
    d.update(message);
    d.update(seq.to_le_bytes());
    d.update(&pw);
    let mut out = [0u8; 16];
    for (o, b) in out.iter_mut().zip(d.finalize().iter()) {
        *o = *b;
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    #[test]
    fn hmac_sha1_matches_rfc2202() {
        // RFC 2202 test case 2.
        let mac = AuthAlg::Sha1.hmac(b"Jefe", &[b"what do ya want ", b"for nothing?"]);
        assert_eq!(
            conpot_core::hex::encode(&mac),
            "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79"
        );
        let md5 = AuthAlg::Md5.hmac(b"Jefe", &[b"what do ya want for nothing?"]);
        assert_eq!(conpot_core::hex::encode(&md5), "750c783e6ab0b503eaa86e310a5db738");
    }

    #[test]
    fn aes_cbc_matches_sp800_38a_and_round_trips() {
        // NIST SP 800-38A F.2.1, first block (the IPMI padding adds a second block).
        let key = conpot_core::hex::decode("2b7e151628aed2a6abf7158809cf4f3c").unwrap();
        let iv: [u8; 16] = conpot_core::hex::decode("000102030405060708090a0b0c0d0e0f")
            .unwrap()
            .try_into()
            .unwrap();
        let pt = conpot_core::hex::decode("6bc1bee22e409f96e93d7e117393172a").unwrap();
        let ct = aes_encrypt(&key, &iv, &pt).unwrap();
        assert_eq!(ct.len(), 32);
        assert_eq!(conpot_core::hex::encode(&ct[..16]), "7649abac8119b246cee98e9b12e9197d");
        assert_eq!(aes_decrypt(&key, &iv, &ct).unwrap(), pt);
        for n in 0..40 {
            let data = vec![0xA5; n];
            let ct = aes_encrypt(&key, &iv, &data).unwrap();
            assert_eq!(ct.len() % 16, 0);
            assert_eq!(aes_decrypt(&key, &iv, &ct).unwrap(), data);
        }
        assert_eq!(aes_decrypt(&key, &iv, &[0; 15]), None);
    }

    #[test]
    fn md2_matches_rfc1319() {
        use md5::Digest;
        assert_eq!(
            conpot_core::hex::encode(&md2::Md2::digest(b"abc")),
            "da853b0d3f88d99b30283a69e6ded6bb"
        );
        assert_ne!(md2_authcode("pw", 1, b"m", 2), md5_authcode("pw", 1, b"m", 2));
    }

    #[test]
    fn suites_exclude_cipher_zero() {
        assert!(SUITES.iter().all(|s| s.auth != AuthAlg::None && s.id != 0));
        assert_eq!(
            find_suite(AuthAlg::Sha256, IntegrityAlg::Sha256_128, ConfAlg::AesCbc128).map(|s| s.id),
            Some(17)
        );
        assert_eq!(find_suite(AuthAlg::None, IntegrityAlg::None, ConfAlg::None), None);
    }
}
