//! The page, written by hand: every text that came from an event passes through [`escape`],
//! addresses and numbers included (they are formatted by us, but escaping them costs nothing
//! and leaves no exception to remember).

use std::fmt::Write as _;

use crate::ring::{BUCKET_SECS, BUCKETS};
use crate::state::{Row, State, clock};

/// Sources listed under "top sources".
pub const TOP_SOURCES: usize = 10;
/// Open sessions listed (the count says how many more).
pub const LISTED_SESSIONS: usize = 50;

/// `s` with the five characters that mean something in HTML text and attribute values
/// (`& < > " '`) written as entities.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + s.len() / 8);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// One sink's health line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SinkRow {
    /// Sink name.
    pub name: String,
    /// Records delivered.
    pub delivered: u64,
    /// Records given up.
    pub failed: u64,
    /// Records the full spool could not take.
    pub spool_dropped: u64,
    /// Events its full queue could not take.
    pub queue_dropped: u64,
    /// Bytes in its disk spool now.
    pub spool_bytes: u64,
}

/// What the page says of the sensor's plumbing (read at each render).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Health {
    /// Per configured sink.
    pub sinks: Vec<SinkRow>,
    /// Events dropped by any full queue of the bus (all consumers).
    pub bus_dropped: u64,
    /// Events the dashboard's own queue dropped.
    pub own_dropped: u64,
    /// Live viewers cut off for reading too slowly.
    pub slow_viewers: u64,
    /// Live viewers now.
    pub viewers: usize,
    /// The process's limit counters (`limit_per_ip`, ...).
    pub limits: Vec<(&'static str, u64)>,
}

/// A duration in ms as `12s`, `3m04s`, `2h05m`.
pub fn age(ms: u64) -> String {
    let s = ms / 1000;
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m{:02}s", s / 60, s % 60),
        _ => format!("{}h{:02}m", s / 3600, (s / 60) % 60),
    }
}

fn opt_addr(a: Option<std::net::SocketAddr>) -> String {
    a.map(|a| a.to_string()).unwrap_or_default()
}

/// One `<tr>` of the event list.
pub fn event_row(r: &Row) -> String {
    format!(
        "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"detail\">{}</td></tr>",
        escape(&clock(r.time_ms)),
        escape(&r.event_type),
        escape(&r.protocol),
        escape(&opt_addr(r.src)),
        escape(&r.persona),
        escape(&r.detail)
    )
}

/// A small SVG line chart of one rate series (oldest bucket left), scaled to its maximum.
pub fn chart(series: &[u32; BUCKETS]) -> String {
    let (w, h) = (240u32, 40u32);
    let max = series.iter().copied().max().unwrap_or(0).max(1);
    let step = w as f64 / (BUCKETS - 1) as f64;
    let mut points = String::new();
    for (i, v) in series.iter().enumerate() {
        let y = f64::from(h) - 2.0 - f64::from(*v) * f64::from(h - 4) / f64::from(max);
        let _ = write!(points, "{:.1},{:.1} ", i as f64 * step, y);
    }
    format!(
        "<svg class=\"chart\" viewBox=\"0 0 {w} {h}\" width=\"{w}\" height=\"{h}\" role=\"img\">\
         <polyline fill=\"none\" stroke=\"#2a7\" stroke-width=\"1.5\" points=\"{}\"/></svg>",
        points.trim_end()
    )
}

/// The panels (everything but the live event list), re-fetched by the page every second.
pub fn panels(st: &State, health: &Health, now_ms: u64) -> String {
    let mut o = String::with_capacity(16 * 1024);
    // Live sessions.
    let mut sessions: Vec<_> = st.sessions.values().collect();
    sessions.sort_by_key(|s| std::cmp::Reverse(s.opened_ms));
    let _ = write!(
        o,
        "<section id=\"sessions\"><h2>Live sessions <span class=\"n\">{}</span></h2><table>\
         <tr><th>source</th><th>protocol</th><th>persona</th><th>age</th><th>events</th></tr>",
        st.sessions.len()
    );
    for s in sessions.iter().take(LISTED_SESSIONS) {
        let _ = write!(
            o,
            "<tr class=\"session\"><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(&opt_addr(s.src)),
            escape(&s.protocol),
            escape(&s.persona),
            escape(&age(now_ms.saturating_sub(s.opened_ms))),
            s.events
        );
    }
    o.push_str("</table>");
    if sessions.len() > LISTED_SESSIONS || st.sessions_untracked > 0 {
        let _ = write!(
            o,
            "<p class=\"note\">{} more listed by count only; {} opened past the tracking limit</p>",
            sessions.len().saturating_sub(LISTED_SESSIONS),
            st.sessions_untracked
        );
    }
    o.push_str("</section>");
    // Request rates.
    let _ = write!(
        o,
        "<section id=\"rates\"><h2>Activity per {BUCKET_SECS} s, last 5 min</h2>"
    );
    if st.rates.is_empty() {
        o.push_str("<p class=\"note\">nothing yet</p>");
    }
    for (proto, rate) in &st.rates {
        let series = rate.series(now_ms / 1000);
        let total: u32 = series.iter().sum();
        let _ = write!(
            o,
            "<div class=\"rate\"><span class=\"proto\">{}</span> <span class=\"n\">{total}</span>{}</div>",
            escape(proto),
            chart(&series)
        );
    }
    o.push_str("</section>");
    // Top sources.
    o.push_str("<section id=\"sources\"><h2>Top sources</h2><table><tr><th>source</th><th>events</th></tr>");
    for (ip, n) in st.top_sources(TOP_SOURCES) {
        let _ = write!(o, "<tr><td>{}</td><td>{n}</td></tr>", escape(&ip.to_string()));
    }
    o.push_str("</table></section>");
    // Login attempts.
    let _ = write!(
        o,
        "<section id=\"logins\"><h2>Login attempts <span class=\"n\">{} ({} succeeded)</span></h2><table>\
         <tr><th>time</th><th>protocol</th><th>source</th><th>user</th><th>password</th><th>method</th><th>result</th></tr>",
        st.login_counts.0, st.login_counts.1
    );
    for l in st.logins.newest_first().take(20) {
        let _ = write!(
            o,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"{}\">{}</td></tr>",
            escape(&clock(l.time_ms)),
            escape(&l.protocol),
            escape(&opt_addr(l.src)),
            escape(&l.username),
            escape(&l.password),
            escape(&l.method),
            if l.success { "ok" } else { "bad" },
            if l.success { "success" } else { "failure" }
        );
    }
    o.push_str("</table></section>");
    // Captured files.
    o.push_str(
        "<section id=\"captures\"><h2>Captured files</h2><table>\
         <tr><th>time</th><th>protocol</th><th>source</th><th>name</th><th>size</th><th>SHA-256</th><th>status</th></tr>",
    );
    for c in st.captures.newest_first().take(20) {
        let hash = if c.downloadable() {
            // The link is only ever /captures/<64 hex digits>: nothing of the attacker's name.
            format!(
                "<a href=\"/captures/{0}\" title=\"{0}\" download>{1}…</a>",
                escape(&c.sha256),
                escape(c.sha256.get(..16).unwrap_or_default())
            )
        } else {
            format!(
                "<span title=\"{0}\">{1}</span>",
                escape(&c.sha256),
                escape(&crate::state::clip(&c.sha256, 16))
            )
        };
        let _ = write!(
            o,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"hash\">{hash}</td><td>{}</td></tr>",
            escape(&clock(c.time_ms)),
            escape(&c.protocol),
            escape(&opt_addr(c.src)),
            escape(&c.name),
            c.size,
            escape(&c.status)
        );
    }
    o.push_str("</table></section>");
    // Limits hit.
    o.push_str("<section id=\"limits\"><h2>Limits hit</h2><p class=\"counters\">");
    for (name, v) in health.limits.iter().filter(|(_, v)| *v > 0) {
        let _ = write!(
            o,
            "<span>{} <b>{v}</b></span> ",
            escape(name.trim_start_matches("limit_"))
        );
    }
    if health.limits.iter().all(|(_, v)| *v == 0) {
        o.push_str("none");
    }
    o.push_str("</p><table>");
    for r in st.limits.newest_first().take(10) {
        let _ = write!(
            o,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td class=\"detail\">{}</td></tr>",
            escape(&clock(r.time_ms)),
            escape(&r.protocol),
            escape(&opt_addr(r.src)),
            escape(&r.detail)
        );
    }
    o.push_str("</table></section>");
    // Sink health.
    o.push_str(
        "<section id=\"sinks\"><h2>Sink health</h2><table><tr><th>sink</th><th>delivered</th><th>failed</th>\
         <th>spool dropped</th><th>queue dropped</th><th>spool bytes</th></tr>",
    );
    for s in &health.sinks {
        let _ = write!(
            o,
            "<tr><td title=\"{0}\">{0}</td><td>{1}</td><td>{2}</td><td>{3}</td><td>{4}</td><td>{5}</td></tr>",
            escape(&s.name),
            s.delivered,
            s.failed,
            s.spool_dropped,
            s.queue_dropped,
            s.spool_bytes
        );
    }
    let _ = write!(
        o,
        "</table><p class=\"note\">bus drops (all queues) {}; this dashboard's queue dropped {}; \
         <span id=\"viewers\">{}</span> live viewer(s), {} cut off for reading too slowly; {} events seen</p></section>",
        health.bus_dropped, health.own_dropped, health.viewers, health.slow_viewers, st.seen
    );
    o
}

/// The whole page: panels and the newest events rendered here, then kept live by `app.js`.
pub fn page(title: &str, st: &State, health: &Health, now_ms: u64) -> String {
    let mut o = String::with_capacity(64 * 1024);
    let _ = write!(
        o,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width\"><title>{0} · conpot-rs dashboard</title>\
         <link rel=\"stylesheet\" href=\"/style.css\"><script src=\"/app.js\" defer></script></head>\
         <body><header><h1>conpot-rs · {0}</h1><span id=\"live\">connecting…</span></header><main>\
         <div id=\"panels\">{1}</div><section id=\"stream\"><h2>Events</h2><table><thead><tr><th>time</th>\
         <th>type</th><th>protocol</th><th>source</th><th>persona</th><th>detail</th></tr></thead><tbody id=\"events\">",
        escape(title),
        panels(st, health, now_ms)
    );
    for r in st.events.newest_first() {
        o.push_str(&event_row(r));
    }
    o.push_str("</tbody></table></section></main></body></html>");
    o
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use conpot_core::event::{Event, EventDraft, Origin, SessionInfo, Transport};
    use proptest::prelude::*;
    use std::sync::Arc;
    use std::time::{Duration, UNIX_EPOCH};

    const HOSTILE: &str = "<script>alert(1)</script><img src=x onerror=\"alert(2)\">'&";

    fn hostile_state() -> State {
        let origin = Origin {
            sensor_id: Arc::from("s"),
            persona: Arc::from("<b>persona</b>"),
            public_ip: None,
            raw_limit: 4096,
        };
        let s = SessionInfo::new(
            "http".into(),
            Transport::Tcp,
            Some("10.1.2.3:5555".parse().unwrap()),
            None,
        );
        let t = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let mut st = State::default();
        st.record(&Event::stamp(&origin, &s, EventDraft::new("session.open"), t));
        let mut req = EventDraft::new("http.request").with("path", format!("/{HOSTILE}"));
        req.body.request = Some(serde_json::json!({ "method": "GET", "path": HOSTILE }));
        st.record(&Event::stamp(&origin, &s, req, t));
        st.record(&Event::stamp(
            &origin,
            &s,
            EventDraft::new("modbus.request").with("device_id", HOSTILE),
            t,
        ));
        st.record(&Event::stamp(
            &origin,
            &s,
            EventDraft::new("auth.attempt")
                .with("username", HOSTILE)
                .with("password", HOSTILE)
                .with("method", HOSTILE)
                .with("success", false),
            t,
        ));
        st.record(&Event::stamp(
            &origin,
            &s,
            EventDraft::new("file.upload")
                .with("name", HOSTILE)
                .with("sha256", "\"><script>x</script>")
                .with("status", "stored"),
            t,
        ));
        st.record(&Event::stamp(
            &origin,
            &s,
            EventDraft::new("limit.hit").with("limit", HOSTILE),
            t,
        ));
        st
    }

    #[test]
    fn escapes_the_five_characters() {
        assert_eq!(
            escape("<a href=\"x\">'&'</a>"),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
        assert_eq!(escape("plain é"), "plain é");
    }

    #[test]
    fn hostile_event_fields_render_escaped_everywhere() {
        let st = hostile_state();
        let health = Health {
            sinks: vec![SinkRow {
                name: "<script>sink</script>".into(),
                delivered: 1,
                failed: 0,
                spool_dropped: 0,
                queue_dropped: 0,
                spool_bytes: 0,
            }],
            ..Health::default()
        };
        let html = page("<script>title</script>", &st, &health, 1_800_000_001_000);
        // The only script element is ours (in the head), and no attacker tag survived.
        assert_eq!(html.matches("<script").count(), 1, "{html}");
        assert!(html.contains("<script src=\"/app.js\" defer></script>"));
        assert!(!html.contains("<img"), "{html}");
        assert!(!html.contains("<b>persona"));
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(html.contains("onerror=&quot;alert(2)&quot;") || html.contains("onerror=\\&quot;alert(2)\\&quot;"));
        // The bogus hash is not linked (only 64 hex digits are) and is shown escaped.
        assert!(!html.contains("href=\"/captures/\""));
        assert!(!html.contains("href=\"/captures/&quot;"));
        // Every section is there.
        for id in [
            "sessions", "rates", "sources", "logins", "captures", "limits", "sinks", "events",
        ] {
            assert!(html.contains(&format!("id=\"{id}\"")), "{id}");
        }
    }

    #[test]
    fn charts_are_well_formed() {
        let mut s = [0u32; BUCKETS];
        s[BUCKETS - 1] = 7;
        let svg = chart(&s);
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
        assert_eq!(svg.matches(',').count(), BUCKETS);
        assert_eq!(age(5_000), "5s");
        assert_eq!(age(185_000), "3m05s");
        assert_eq!(age(7_500_000), "2h05m");
    }

    proptest! {
        #[test]
        fn escaped_text_has_no_markup_characters(s in any::<String>()) {
            let e = escape(&s);
            prop_assert!(!e.contains('<') && !e.contains('>') && !e.contains('"') && !e.contains('\''));
            // Every `&` starts one of our entities.
            for (i, _) in e.match_indices('&') {
                let rest = &e[i..];
                prop_assert!(["&amp;", "&lt;", "&gt;", "&quot;", "&#39;"].iter().any(|x| rest.starts_with(x)));
            }
        }
    }
}
