//! The deployment's TLS certificate: made once, on the first start, from the persona (a
//! device's self-signed certificate names the device: its host name, its MAC, its vendor)
//! and kept in the state folder, so every restart shows the same certificate and no two
//! deployments share one (Conpot's single certificate, expired in 2015, is a signature).

use std::io;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use conpot_core::time::Civil;

/// The key a generated certificate gets: what the device's TLS stack makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyType {
    /// ECDSA on P-256 with SHA-256 (most current embedded stacks).
    EcdsaP256,
    /// ECDSA on P-384 with SHA-384.
    EcdsaP384,
    /// Ed25519.
    Ed25519,
}

impl KeyType {
    /// Reads a template's name for a key type: `ecdsa-p256`, `ecdsa-p384` or `ed25519`.
    pub fn parse(name: &str) -> Option<KeyType> {
        match name {
            "ecdsa-p256" => Some(KeyType::EcdsaP256),
            "ecdsa-p384" => Some(KeyType::EcdsaP384),
            "ed25519" => Some(KeyType::Ed25519),
            _ => None,
        }
    }

    fn algorithm(self) -> &'static rcgen::SignatureAlgorithm {
        match self {
            KeyType::EcdsaP256 => &rcgen::PKCS_ECDSA_P256_SHA256,
            KeyType::EcdsaP384 => &rcgen::PKCS_ECDSA_P384_SHA384,
            KeyType::Ed25519 => &rcgen::PKCS_ED25519,
        }
    }
}

/// What a generated certificate says: the subject (also its issuer: it is self-signed),
/// its alternative names, its validity and key.
#[derive(Debug, Clone, PartialEq)]
pub struct CertSpec {
    /// Subject common name (the device's host name).
    pub common_name: String,
    /// Subject organisation (the vendor), if any.
    pub organization: Option<String>,
    /// Subject organisational unit (the product line), if any.
    pub organizational_unit: Option<String>,
    /// Subject serial number attribute (the MAC or serial of the device), if any.
    pub subject_serial: Option<String>,
    /// DNS names of the subject alternative name extension.
    pub dns_names: Vec<String>,
    /// IP addresses of the subject alternative name extension.
    pub ip_addresses: Vec<IpAddr>,
    /// Start of validity: when the device "made" its certificate.
    pub not_before: SystemTime,
    /// Length of validity in days.
    pub valid_days: u32,
    /// Key type.
    pub key: KeyType,
}

/// A certificate chain and its key, both PEM.
#[derive(Debug, Clone)]
pub struct Identity {
    /// The certificate chain, PEM (leaf first).
    pub cert_pem: String,
    /// The private key, PEM (PKCS#8, SEC1 or PKCS#1).
    pub key_pem: String,
}

/// Longest validity accepted (about 100 years).
pub const MAX_VALID_DAYS: u32 = 36_525;

/// Makes a self-signed certificate and key for `spec`, with a random serial number.
pub fn generate(spec: &CertSpec) -> Result<Identity, String> {
    use rcgen::{CertificateParams, DistinguishedName, DnType, KeyPair, SanType, SerialNumber};
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, spec.common_name.as_str());
    if let Some(o) = &spec.organization {
        dn.push(DnType::OrganizationName, o.as_str());
    }
    if let Some(ou) = &spec.organizational_unit {
        dn.push(DnType::OrganizationalUnitName, ou.as_str());
    }
    if let Some(sn) = &spec.subject_serial {
        // X.520 serialNumber (2.5.4.5).
        dn.push(DnType::CustomDnType(vec![2, 5, 4, 5]), sn.as_str());
    }
    params.distinguished_name = dn;
    for name in &spec.dns_names {
        let ia5 = name
            .as_str()
            .try_into()
            .map_err(|e| format!("DNS name `{name}`: {e}"))?;
        params.subject_alt_names.push(SanType::DnsName(ia5));
    }
    for ip in &spec.ip_addresses {
        params.subject_alt_names.push(SanType::IpAddress(*ip));
    }
    // A closure, so the date type stays rcgen's own.
    let date = |t: SystemTime| {
        let c = Civil::from_system(t);
        rcgen::date_time_ymd(c.year.clamp(1970, 9999) as i32, c.month as u8, c.day as u8)
    };
    let days = spec.valid_days.clamp(1, MAX_VALID_DAYS);
    params.not_before = date(spec.not_before);
    params.not_after = date(spec.not_before + Duration::from_secs(u64::from(days) * 86_400));
    let mut serial = [0u8; 16];
    getrandom_fill(&mut serial);
    serial[0] &= 0x7f; // a positive INTEGER
    params.serial_number = Some(SerialNumber::from_slice(&serial));
    let key = KeyPair::generate_for(spec.key.algorithm()).map_err(|e| format!("key generation: {e}"))?;
    let cert = params.self_signed(&key).map_err(|e| format!("certificate: {e}"))?;
    Ok(Identity {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    })
}

fn getrandom_fill(buf: &mut [u8]) {
    for chunk in buf.chunks_mut(8) {
        let v = conpot_core::rng::entropy_u64().to_le_bytes();
        for (b, r) in chunk.iter_mut().zip(v) {
            *b = r;
        }
    }
}

/// Where the certificate and key of `name` (a listener's name) live under `state_dir`.
pub fn paths(state_dir: &Path, name: &str) -> (PathBuf, PathBuf) {
    let dir = state_dir.join("tls");
    (dir.join(format!("{name}.crt")), dir.join(format!("{name}.key")))
}

/// The kept certificate of `name` if there is one, else a new one made from `spec` and
/// written to the state folder (the key readable by its owner only). Returns it and
/// whether it was made now.
pub fn load_or_create(state_dir: &Path, name: &str, spec: &CertSpec) -> io::Result<(Identity, bool)> {
    let (crt, key) = paths(state_dir, name);
    if crt.exists() && key.exists() {
        return Ok((load(&crt, &key)?, false));
    }
    let id = generate(spec).map_err(io::Error::other)?;
    if let Some(dir) = crt.parent() {
        std::fs::create_dir_all(dir)?;
    }
    write_private(&key, id.key_pem.as_bytes())?;
    std::fs::write(&crt, id.cert_pem.as_bytes())?;
    Ok((id, true))
}

/// Largest certificate or key file read.
const MAX_PEM: u64 = 256 * 1024;

/// Reads an operator's (or a kept) certificate chain and key, PEM.
pub fn load(cert: &Path, key: &Path) -> io::Result<Identity> {
    let read = |p: &Path| -> io::Result<String> {
        let len = std::fs::metadata(p)?.len();
        if len > MAX_PEM {
            return Err(io::Error::other(format!(
                "{}: larger than {MAX_PEM} bytes",
                p.display()
            )));
        }
        std::fs::read_to_string(p)
    };
    Ok(Identity {
        cert_pem: read(cert)?,
        key_pem: read(key)?,
    })
}

fn write_private(path: &Path, bytes: &[u8]) -> io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(bytes)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::expect_used)]
mod tests {
    use super::*;

    fn spec() -> CertSpec {
        CertSpec {
            common_name: "plc-101".into(),
            organization: Some("Siemens".into()),
            organizational_unit: Some("SIMATIC S7-300".into()),
            subject_serial: Some("00:1B:1B:12:34:56".into()),
            dns_names: vec!["plc-101".into()],
            ip_addresses: vec![IpAddr::from([192, 168, 10, 120])],
            not_before: SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000),
            valid_days: 3650,
            key: KeyType::EcdsaP256,
        }
    }

    #[test]
    fn kept_across_starts_and_unique_per_deployment() {
        let a = std::env::temp_dir().join(format!("conpot-cert-a-{}", std::process::id()));
        let b = std::env::temp_dir().join(format!("conpot-cert-b-{}", std::process::id()));
        let (first, made) = load_or_create(&a, "http", &spec()).unwrap();
        assert!(made);
        let (again, made) = load_or_create(&a, "http", &spec()).unwrap();
        assert!(!made);
        assert_eq!(first.cert_pem, again.cert_pem);
        let (other, _) = load_or_create(&b, "http", &spec()).unwrap();
        assert_ne!(first.cert_pem, other.cert_pem);
        assert_ne!(first.key_pem, other.key_pem);
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(paths(&a, "http").1).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0);
        let _ = std::fs::remove_dir_all(&a);
        let _ = std::fs::remove_dir_all(&b);
    }

    #[test]
    fn every_key_type_makes_a_certificate() {
        for key in [KeyType::EcdsaP256, KeyType::EcdsaP384, KeyType::Ed25519] {
            let id = generate(&CertSpec { key, ..spec() }).unwrap();
            assert!(id.cert_pem.starts_with("-----BEGIN CERTIFICATE-----"));
            assert!(crate::tls::TlsServer::new(&id, crate::tls::Versions::default()).is_ok());
        }
        assert_eq!(KeyType::parse("ecdsa-p384"), Some(KeyType::EcdsaP384));
        assert_eq!(KeyType::parse("rsa-1024"), None);
    }
}
