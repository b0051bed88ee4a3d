//! The `[dashboard]` table of the sensor's TOML configuration, read here (the core keeps it
//! as a raw table, as it does for sinks) so the dashboard's rules live with the dashboard.

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// The keys `[dashboard]` accepts.
const KEYS: &[&str] = &["listen", "allow_remote", "token", "user", "password"];
/// Shortest operator token accepted: a short token is guessed by anyone who can reach the port.
pub const MIN_TOKEN: usize = 16;
/// Longest token, user or password accepted (they are compared on every request).
pub const MAX_SECRET: usize = 256;
/// File in the state folder holding the token generated at start.
pub const TOKEN_FILE: &str = "dashboard.token";

/// Where and behind what the dashboard is served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DashboardConfig {
    /// The listener (`127.0.0.1:9780`); port 0 picks a free one.
    pub listen: SocketAddr,
    /// Whether a non-loopback `listen` is allowed: the page shows what attackers sent, and
    /// the operator must opt in to showing it beyond the machine.
    pub allow_remote: bool,
    /// The operator's token; `None` has one generated at start (see [`resolve_token`]).
    pub token: Option<String>,
    /// HTTP basic credentials accepted besides the token (both or neither).
    pub basic: Option<(String, String)>,
}

/// Whether `token` is one the dashboard accepts: long enough, and only characters that pass
/// unquoted in a URL query, a cookie and a header.
pub fn valid_token(token: &str) -> bool {
    (MIN_TOKEN..=MAX_SECRET).contains(&token.len())
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~'))
}

impl DashboardConfig {
    /// Reads the `[dashboard]` table; the error names the key and what was expected.
    pub fn from_table(t: &toml::Table) -> Result<DashboardConfig, String> {
        if let Some(k) = t.keys().find(|k| !KEYS.contains(&k.as_str())) {
            return Err(format!(
                "dashboard.{k}: unknown key (expected one of {})",
                KEYS.join(", ")
            ));
        }
        let text = |key: &str| -> Result<Option<String>, String> {
            match t.get(key) {
                None => Ok(None),
                Some(toml::Value::String(s)) if s.len() <= MAX_SECRET => Ok(Some(s.clone())),
                Some(_) => Err(format!("dashboard.{key}: a string of at most {MAX_SECRET} bytes")),
            }
        };
        let Some(listen) = text("listen")? else {
            return Err("dashboard.listen: an address like 127.0.0.1:9780 (required)".into());
        };
        let listen: SocketAddr = listen
            .parse()
            .map_err(|_| format!("dashboard.listen: an address like 127.0.0.1:9780, found `{listen}`"))?;
        let allow_remote = match t.get("allow_remote") {
            None => false,
            Some(toml::Value::Boolean(b)) => *b,
            Some(_) => return Err("dashboard.allow_remote: true or false".into()),
        };
        if !listen.ip().is_loopback() && !allow_remote {
            return Err(format!(
                "dashboard.listen: {listen} is not a loopback address; the dashboard shows what attackers \
                 sent, so serving it beyond this machine needs `allow_remote = true`"
            ));
        }
        let token = text("token")?;
        if let Some(tok) = &token
            && !valid_token(tok)
        {
            return Err(format!(
                "dashboard.token: at least {MIN_TOKEN} characters of A-Z a-z 0-9 - _ . ~"
            ));
        }
        let basic = match (text("user")?, text("password")?) {
            (None, None) => None,
            (Some(u), Some(p)) if !u.is_empty() && !u.contains(':') && p.len() >= 8 => Some((u, p)),
            (Some(_), Some(_)) => {
                return Err("dashboard.user/password: a user without `:` and a password of 8 or more bytes".into());
            }
            _ => return Err("dashboard.user/password: both or neither".into()),
        };
        Ok(DashboardConfig {
            listen,
            allow_remote,
            token,
            basic,
        })
    }
}

/// Where the token came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenOrigin {
    /// The configuration's `token`.
    Configured,
    /// Generated at this start and written (mode 0600) to this file.
    Generated(PathBuf),
}

/// The token the dashboard accepts: the configured one, or 32 random bytes (hex) generated
/// now and written to [`TOKEN_FILE`] in `state_dir` readable by the sensor's user only, so
/// the operator can read it there (or in the text log).
pub fn resolve_token(cfg: &DashboardConfig, state_dir: &Path) -> std::io::Result<(String, TokenOrigin)> {
    if let Some(t) = &cfg.token {
        return Ok((t.clone(), TokenOrigin::Configured));
    }
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| std::io::Error::other(e.to_string()))?;
    let token = conpot_core::hex::encode(&bytes);
    std::fs::create_dir_all(state_dir)?;
    let path = state_dir.join(TOKEN_FILE);
    let _ = std::fs::remove_file(&path);
    let mut f = {
        use std::os::unix::fs::OpenOptionsExt;
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)?
    };
    writeln!(f, "{token}")?;
    Ok((token, TokenOrigin::Generated(path)))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<DashboardConfig, String> {
        DashboardConfig::from_table(&text.parse::<toml::Table>().unwrap())
    }

    #[test]
    fn loopback_by_default_remote_only_when_allowed() {
        let c = parse("listen = \"127.0.0.1:9780\"").unwrap();
        assert_eq!(c.listen.port(), 9780);
        assert!(c.token.is_none() && c.basic.is_none());
        assert!(parse("listen = \"[::1]:0\"").is_ok());
        let e = parse("listen = \"0.0.0.0:9780\"").unwrap_err();
        assert!(e.contains("allow_remote"), "{e}");
        assert!(parse("listen = \"0.0.0.0:9780\"\nallow_remote = true").is_ok());
    }

    #[test]
    fn bad_keys_tokens_and_credentials_are_refused() {
        assert!(parse("").unwrap_err().contains("required"));
        assert!(
            parse("listen = \"127.0.0.1:1\"\nport = 3")
                .unwrap_err()
                .contains("unknown key")
        );
        assert!(parse("listen = \"127.0.0.1:1\"\ntoken = \"short\"").is_err());
        assert!(parse("listen = \"127.0.0.1:1\"\ntoken = \"has space in it 12345\"").is_err());
        assert!(parse("listen = \"127.0.0.1:1\"\ntoken = \"0123456789abcdef\"").is_ok());
        assert!(parse("listen = \"127.0.0.1:1\"\nuser = \"ops\"").is_err());
        assert!(parse("listen = \"127.0.0.1:1\"\nuser = \"ops\"\npassword = \"short\"").is_err());
        let c = parse("listen = \"127.0.0.1:1\"\nuser = \"ops\"\npassword = \"long enough\"").unwrap();
        assert_eq!(c.basic, Some(("ops".into(), "long enough".into())));
    }

    #[test]
    fn generated_token_is_written_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("conpot-dash-tok-{}", conpot_core::rng::entropy_u64()));
        let cfg = parse("listen = \"127.0.0.1:0\"").unwrap();
        let (tok, origin) = resolve_token(&cfg, &dir).unwrap();
        assert!(valid_token(&tok), "{tok}");
        let TokenOrigin::Generated(path) = origin else {
            panic!("generated")
        };
        assert_eq!(std::fs::read_to_string(&path).unwrap().trim(), tok);
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        let (again, _) = resolve_token(&cfg, &dir).unwrap();
        assert_ne!(tok, again, "a new token at every start");
        let _ = std::fs::remove_dir_all(dir);
    }
}
