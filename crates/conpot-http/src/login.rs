//! HTML form login: a POST of the login form is checked against the device's accounts,
//! and a success opens a web session named by a cookie, which the pages that need a
//! login then accept. Sessions are shared by every connection of the site (a browser
//! opens several) and bounded: the oldest is dropped first.

use std::collections::VecDeque;
use std::sync::Mutex;

/// Most web sessions held at once.
pub const MAX_SESSIONS: usize = 1024;

/// Where and how the device's login form posts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginForm {
    /// The form's page and its POST target.
    pub path: String,
    /// The form field holding the user name.
    pub user_field: String,
    /// The form field holding the password.
    pub password_field: String,
    /// Where a successful login goes.
    pub success: String,
    /// The session cookie's name.
    pub cookie: String,
}

/// The open web sessions: (token, user name), oldest first.
#[derive(Debug, Default)]
pub struct Sessions {
    open: Mutex<VecDeque<(String, String)>>,
}

impl Sessions {
    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<(String, String)>> {
        self.open.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Opens a session for `user`; returns its token (128 random bits, hex).
    pub fn open(&self, user: &str) -> String {
        let (a, b) = conpot_core::rng::with_thread_rng(|r| (r.next_u64(), r.next_u64()));
        let token = format!("{a:016x}{b:016x}");
        let mut open = self.lock();
        if open.len() >= MAX_SESSIONS {
            open.pop_front();
        }
        open.push_back((token.clone(), user.to_owned()));
        token
    }

    /// The user of the session `token`, if it is open.
    pub fn user(&self, token: &str) -> Option<String> {
        self.lock().iter().find(|(t, _)| t == token).map(|(_, u)| u.clone())
    }
}

/// The value of cookie `name` in a `Cookie` header value.
pub fn cookie<'a>(header: &'a str, name: &str) -> Option<&'a str> {
    header
        .split(';')
        .filter_map(|c| c.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v.trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_are_bounded_and_found_by_token() {
        let s = Sessions::default();
        let first = s.open("admin");
        assert_eq!(first.len(), 32);
        assert_eq!(s.user(&first).as_deref(), Some("admin"));
        for _ in 0..MAX_SESSIONS {
            s.open("x");
        }
        assert_eq!(s.user(&first), None);
        assert_eq!(cookie("a=1; sid=abc ;b=2", "sid"), Some("abc"));
        assert_eq!(cookie("a=1", "sid"), None);
    }
}
