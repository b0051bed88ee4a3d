//! The `[network]` table of a template: how the device's TCP/IP stack looks on the wire, as
//! far as a process can set it per socket (the IP TTL and hop limit, don't-fragment, the
//! MSS and window of the SYN-ACK, keepalive timings, the type of service). Plain data here;
//! conpot-net applies it to each listening socket. See docs/network-personality.md for
//! what cannot be changed this way.

use super::nav::{Errors, Table};

/// A device's network personality; every `None` keeps the operating system's default.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NetworkPersonality {
    /// IPv4 time-to-live of everything sent (a Siemens CP or a VxWorks stack uses 30, 60,
    /// 64 or 255 where Linux uses 64).
    pub ttl: Option<u32>,
    /// IPv6 unicast hop limit (the TTL when unset).
    pub hop_limit: Option<u32>,
    /// The IPv4 don't-fragment bit: `true` always sets it (no path-MTU fallback), `false`
    /// never does (many small embedded stacks send DF clear); unset is Linux's path-MTU
    /// discovery, DF set.
    pub dont_fragment: Option<bool>,
    /// TCP maximum segment size advertised in the SYN-ACK and used to send.
    pub mss: Option<u32>,
    /// Largest receive window advertised (TCP_WINDOW_CLAMP): the SYN-ACK's window.
    pub window: Option<u32>,
    /// Socket receive buffer in bytes (SO_RCVBUF, which Linux doubles for bookkeeping).
    pub receive_buffer: Option<u32>,
    /// Socket send buffer in bytes (SO_SNDBUF).
    pub send_buffer: Option<u32>,
    /// IPv4 type of service / IPv6 traffic class byte (DSCP and ECN bits).
    pub tos: Option<u32>,
    /// TCP keepalive of accepted connections: seconds idle before the first probe.
    pub keepalive_idle: Option<u32>,
    /// Seconds between keepalive probes.
    pub keepalive_interval: Option<u32>,
    /// Unanswered probes before the connection is dropped.
    pub keepalive_count: Option<u32>,
}

/// The keys of `[network]`, for messages and documentation.
pub const KEYS: &[&str] = &[
    "ttl",
    "hop_limit",
    "dont_fragment",
    "mss",
    "window",
    "receive_buffer",
    "send_buffer",
    "tos",
    "keepalive_idle",
    "keepalive_interval",
    "keepalive_count",
];

/// Linux accepts TCP_MAXSEG between 88 (TCP_MIN_MSS) and 32767 (MAX_TCP_WINDOW).
const MSS_RANGE: (i64, i64) = (88, 32_767);

impl NetworkPersonality {
    /// Whether any keepalive key is set (keepalive is then switched on).
    pub fn keepalive(&self) -> bool {
        self.keepalive_idle.is_some() || self.keepalive_interval.is_some() || self.keepalive_count.is_some()
    }

    /// Whether nothing is set: the sockets keep the system's defaults.
    pub fn is_default(&self) -> bool {
        *self == NetworkPersonality::default()
    }

    /// This personality with the operator's TTL (`[listen] ttl` of the configuration)
    /// over the template's, which is the device's default.
    pub fn with_ttl_override(&self, ttl: Option<u32>) -> NetworkPersonality {
        let mut n = self.clone();
        if ttl.is_some() {
            n.ttl = ttl;
            n.hop_limit = ttl;
        }
        n
    }

    /// The settings in one line (`ttl 30, mss 1460, window 5840, DF clear`), or
    /// `system defaults`: what `conpot selftest` prints about the stack it serves with.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        let mut num = |name: &str, v: Option<u32>| {
            if let Some(v) = v {
                parts.push(format!("{name} {v}"));
            }
        };
        num("ttl", self.ttl);
        num("hop limit", self.hop_limit);
        num("mss", self.mss);
        num("window", self.window);
        num("rcvbuf", self.receive_buffer);
        num("sndbuf", self.send_buffer);
        num("tos", self.tos);
        if let Some(df) = self.dont_fragment {
            parts.push(if df { "DF set" } else { "DF clear" }.to_owned());
        }
        if self.keepalive() {
            let s = |v: Option<u32>| v.map_or_else(|| "-".to_owned(), |v| v.to_string());
            parts.push(format!(
                "keepalive {}/{}/{}",
                s(self.keepalive_idle),
                s(self.keepalive_interval),
                s(self.keepalive_count)
            ));
        }
        if parts.is_empty() {
            "system defaults".to_owned()
        } else {
            parts.join(", ")
        }
    }

    /// Reads the `[network]` table of `top` (a template's root), recording every error.
    pub fn from_toml(file: &str, top: &Table<'_>, errs: &mut Errors) -> NetworkPersonality {
        let Some(t) = top.table("network", false, errs) else {
            return NetworkPersonality::default();
        };
        let t = Table::new(file, "network", t);
        t.deny_unknown(KEYS, errs);
        let int =
            |key: &str, min: i64, max: i64, errs: &mut Errors| t.int(key, min, max, false, errs).map(|v| v as u32);
        NetworkPersonality {
            ttl: int("ttl", 1, 255, errs),
            hop_limit: int("hop_limit", 1, 255, errs),
            dont_fragment: t.bool("dont_fragment", errs),
            mss: int("mss", MSS_RANGE.0, MSS_RANGE.1, errs),
            // Linux raises a clamp below half its minimum buffer (2304) to that; above 1 GiB
            // no stack goes.
            window: int("window", 1152, 1 << 30, errs),
            receive_buffer: int("receive_buffer", 1152, 1 << 30, errs),
            send_buffer: int("send_buffer", 2048, 1 << 30, errs),
            tos: int("tos", 0, 255, errs),
            keepalive_idle: int("keepalive_idle", 1, 32_767, errs),
            keepalive_interval: int("keepalive_interval", 1, 32_767, errs),
            keepalive_count: int("keepalive_count", 1, 127, errs),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<NetworkPersonality, Vec<String>> {
        let root: toml::Table = text.parse().unwrap();
        let mut errs = Errors::default();
        let n = NetworkPersonality::from_toml("t.toml", &Table::new("t.toml", "", &root), &mut errs);
        if errs.is_empty() {
            Ok(n)
        } else {
            Err(errs.0.iter().map(|e| format!("{}: {}", e.key, e.expected)).collect())
        }
    }

    #[test]
    fn every_key_is_read() {
        let n = parse(
            "[network]\nttl = 30\nhop_limit = 31\ndont_fragment = false\nmss = 1380\nwindow = 8192\n\
             receive_buffer = 16384\nsend_buffer = 8192\ntos = 0x10\nkeepalive_idle = 60\n\
             keepalive_interval = 5\nkeepalive_count = 3\n",
        )
        .unwrap();
        assert_eq!(
            n,
            NetworkPersonality {
                ttl: Some(30),
                hop_limit: Some(31),
                dont_fragment: Some(false),
                mss: Some(1380),
                window: Some(8192),
                receive_buffer: Some(16384),
                send_buffer: Some(8192),
                tos: Some(16),
                keepalive_idle: Some(60),
                keepalive_interval: Some(5),
                keepalive_count: Some(3),
            }
        );
        assert!(n.keepalive());
        assert!(!n.is_default());
        assert_eq!(
            n.describe(),
            "ttl 30, hop limit 31, mss 1380, window 8192, rcvbuf 16384, sndbuf 8192, tos 16, DF clear, keepalive 60/5/3"
        );
    }

    #[test]
    fn missing_table_keeps_the_system_defaults() {
        let n = parse("[template]\nunit = \"x\"\n").unwrap();
        assert!(n.is_default());
        assert!(!n.keepalive());
        assert_eq!(n.describe(), "system defaults");
    }

    #[test]
    fn out_of_range_and_unknown_keys_are_errors() {
        let errs = parse("[network]\nttl = 0\nmss = 40\nwindow = 100\ntos = 256\nsack = false\n").unwrap_err();
        let joined = errs.join("\n");
        for key in [
            "network.ttl",
            "network.mss",
            "network.window",
            "network.tos",
            "network.sack",
        ] {
            assert!(joined.contains(key), "{key} not in {joined}");
        }
        let errs = parse("[network]\ndont_fragment = \"yes\"\nkeepalive_count = 1000\n").unwrap_err();
        assert_eq!(errs.len(), 2, "{errs:?}");
    }

    #[test]
    fn the_operators_ttl_wins() {
        let n = parse("[network]\nttl = 30\nhop_limit = 30\nmss = 536\n").unwrap();
        let o = n.with_ttl_override(Some(128));
        assert_eq!((o.ttl, o.hop_limit, o.mss), (Some(128), Some(128), Some(536)));
        assert_eq!(n.with_ttl_override(None), n);
    }
}
