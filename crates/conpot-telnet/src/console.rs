//! A device's console as a template describes it: how it greets and logs in, its modes
//! (each with a prompt), and its command tree. Matching a typed line against the tree is
//! here too ([`Console::find`]), so the session only acts on the result.

use std::time::Duration;

use conpot_core::auth::Privilege;

use crate::text::{Index, Text};

/// How the console logs users in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Login {
    /// A user name, then a password.
    UserPassword,
    /// A password alone (Moxa NPort and many serial servers).
    PasswordOnly,
    /// No login: the shell at once.
    None,
}

/// One mode of the shell (user, enable, config, a menu page).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mode {
    /// Its name, which commands refer to.
    pub name: String,
    /// The prompt shown in it.
    pub prompt: Text,
}

/// What a condition checks of its filled text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Test {
    /// The text is this (after trimming).
    Is(String),
    /// The text is not this (after trimming).
    Not(String),
    /// The text has at most this many characters.
    MaxLen(usize),
}

/// A condition on the arguments or the state (`when = { value = "{arg1|port}", not = "0" }`):
/// devices answer and store differently when an argument is invalid, which a command's
/// argument count alone cannot tell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cond {
    /// The text checked, filled like any output.
    pub value: Text,
    /// What it must satisfy.
    pub test: Test,
}

impl Cond {
    /// Whether the condition holds for `filled`, its text as filled.
    pub fn holds(&self, filled: &str) -> bool {
        let v = filled.trim();
        match &self.test {
            Test::Is(s) => v == s,
            Test::Not(s) => v != s,
            Test::MaxLen(n) => filled.chars().count() <= *n,
        }
    }
}

/// An output chosen by a condition (`cases = [{ when = {...}, output = "..." }]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Case {
    /// When it applies.
    pub when: Cond,
    /// What is printed then instead of the command's `output`.
    pub output: Text,
}

/// A databus write a command makes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetAction {
    /// The key written.
    pub key: String,
    /// The element of a list value, if the key holds a list.
    pub index: Option<Index>,
    /// The value, filled like any text (usually from an argument).
    pub value: Text,
    /// Written only when this holds (a device leaves a setting as it was when the value
    /// given is invalid).
    pub when: Option<Cond>,
}

/// One command of the tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    /// Its words (`show version` is `["show", "version"]`).
    pub words: Vec<String>,
    /// The modes it exists in (empty: all).
    pub modes: Vec<String>,
    /// The line of the help listing.
    pub help: String,
    /// Arguments it takes after its words, at least and at most.
    pub args: (usize, usize),
    /// What it prints.
    pub output: Text,
    /// The mode it enters.
    pub enter: Option<String>,
    /// Returns to the previous mode (logs out from the first one).
    pub back: bool,
    /// Ends the session after its output.
    pub logout: bool,
    /// The databus write it makes.
    pub set: Option<SetAction>,
    /// Further writes after `set`, in order (a command that stores an address and a port).
    pub sets: Vec<SetAction>,
    /// The privilege it needs (`operator` for writes); the console's `denied` text otherwise.
    pub privilege: Privilege,
    /// Outputs by condition, checked in order after the writes; `output` when none holds.
    pub cases: Vec<Case>,
}

/// Everything that defines a console.
#[derive(Debug, Clone, PartialEq)]
pub struct Console {
    /// Shown when the connection opens, before the login.
    pub banner: Text,
    /// How users log in.
    pub login: Login,
    /// The user name prompt.
    pub login_prompt: Text,
    /// The password prompt.
    pub password_prompt: Text,
    /// After a refused login.
    pub login_failed: Text,
    /// Failures in one session before the connection closes.
    pub max_tries: u32,
    /// Let the session in after this many refused logins (0: never), as some devices do
    /// after a reset and as bait for a brute force.
    pub accept_after: u32,
    /// Delay before answering a refused login, `[min, max]` milliseconds (a real login
    /// waits a few seconds; `(0, 0)`: none).
    pub failure_delay_ms: (u32, u32),
    /// Shown before closing a source the central authentication locked out.
    pub locked: Text,
    /// After a successful login, before the first prompt.
    pub welcome: Text,
    /// After a logout command, before closing.
    pub goodbye: Text,
    /// An unknown command: `{line}` is what was typed.
    pub unknown: Text,
    /// A command that needs more words or arguments.
    pub incomplete: Text,
    /// An abbreviation matching more than one command.
    pub ambiguous: Text,
    /// A command above the user's privilege.
    pub denied: Text,
    /// A write with a value the key cannot take.
    pub invalid: Text,
    /// Shown when the idle timeout closes the session.
    pub idle_message: Text,
    /// Silence before the login times out.
    pub login_timeout: Duration,
    /// Silence in the shell before the session closes.
    pub idle_timeout: Duration,
    /// Whether words may be abbreviated to a unique prefix (`sh ver`).
    pub abbreviate: bool,
    /// Whether commands match regardless of case.
    pub ignore_case: bool,
    /// The mode a login lands in (the first mode).
    pub modes: Vec<Mode>,
    /// The command tree.
    pub commands: Vec<Command>,
    /// Negotiation sent when the connection opens (`WILL ECHO`, `DO NAWS`, ...).
    pub negotiate: Vec<(u8, u8)>,
    /// NEW-ENVIRON: ask for the client's variables (and log them) instead of refusing.
    pub new_environ: bool,
}

/// What a typed line matched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Found<'a> {
    /// Nothing was typed.
    Empty,
    /// A command, with its arguments.
    Command(&'a Command, Vec<String>),
    /// No command starts like this.
    Unknown,
    /// The start of a command, or too few arguments.
    Incomplete,
    /// An abbreviation of several commands.
    Ambiguous,
}

/// The longest line kept (the rest of a longer one is dropped, as a device's line buffer does).
pub const MAX_LINE: usize = 512;
/// The most words a line is split into.
pub const MAX_WORDS: usize = 32;

impl Console {
    /// The mode named `name`.
    pub fn mode(&self, name: &str) -> Option<&Mode> {
        self.modes.iter().find(|m| m.name == name)
    }

    fn word_matches(&self, typed: &str, word: &str) -> (bool, bool) {
        let eq = |a: &str, b: &str| {
            if self.ignore_case {
                a.eq_ignore_ascii_case(b)
            } else {
                a == b
            }
        };
        let exact = eq(typed, word);
        let prefix =
            self.abbreviate && typed.len() <= word.len() && word.get(..typed.len()).is_some_and(|w| eq(typed, w));
        (exact, exact || prefix)
    }

    /// What `line` means in `mode`: the longest command whose words it starts with (each
    /// word exact or, if allowed, a unique abbreviation), the rest being its arguments.
    pub fn find(&self, mode: &str, line: &str) -> Found<'_> {
        let typed: Vec<&str> = line.split_whitespace().take(MAX_WORDS).collect();
        if typed.is_empty() {
            return Found::Empty;
        }
        let in_mode = |c: &&Command| c.modes.is_empty() || c.modes.iter().any(|m| m == mode);
        // Commands whose words the line covers entirely, by how exactly.
        let mut best: Option<(usize, usize, usize, &Command)> = None;
        let mut tied = false;
        let mut incomplete = false;
        for c in self.commands.iter().filter(in_mode) {
            let mut exact = 0;
            let mut ok = true;
            for (i, w) in c.words.iter().enumerate() {
                match typed.get(i) {
                    Some(t) => {
                        let (e, m) = self.word_matches(t, w);
                        if !m {
                            ok = false;
                            break;
                        }
                        exact += usize::from(e);
                    }
                    None => {
                        // The line is a prefix of this command.
                        ok = false;
                        incomplete = true;
                        break;
                    }
                }
            }
            if !ok {
                continue;
            }
            // Among commands with the same words, one whose argument count fits wins (so
            // `H` and `H <cmd>` may be two commands with their own outputs).
            let given = typed.len().saturating_sub(c.words.len());
            let fits = usize::from((c.args.0..=c.args.1).contains(&given));
            let key = (c.words.len(), exact, fits);
            match best {
                Some((l, e, f, _)) if (l, e, f) > key => {}
                Some((l, e, f, _)) if (l, e, f) == key => tied = true,
                _ => {
                    best = Some((key.0, key.1, key.2, c));
                    tied = false;
                }
            }
        }
        match best {
            Some((len, exact, _, _)) if tied && exact < len => Found::Ambiguous,
            Some((len, _, _, c)) => {
                let args: Vec<String> = typed.iter().skip(len).map(|s| (*s).to_owned()).collect();
                if args.len() < c.args.0 {
                    Found::Incomplete
                } else if args.len() > c.args.1 {
                    Found::Unknown
                } else {
                    Found::Command(c, args)
                }
            }
            None if incomplete => Found::Incomplete,
            None => Found::Unknown,
        }
    }

    /// The help listing of `mode`: each command of it with its help text, aligned.
    pub fn help(&self, mode: &str) -> String {
        let cmds: Vec<&Command> = self
            .commands
            .iter()
            .filter(|c| (c.modes.is_empty() || c.modes.iter().any(|m| m == mode)) && !c.help.is_empty())
            .collect();
        let width = cmds.iter().map(|c| c.words.join(" ").len()).max().unwrap_or(0);
        let mut s = String::new();
        for c in cmds {
            let name = c.words.join(" ");
            s.push_str(&format!("  {name:<width$}  {}\n", c.help));
        }
        s
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn cmd(words: &str, modes: &[&str], args: (usize, usize)) -> Command {
        Command {
            words: words.split_whitespace().map(str::to_owned).collect(),
            modes: modes.iter().map(|s| (*s).to_owned()).collect(),
            help: words.to_owned(),
            args,
            output: Text::default(),
            enter: None,
            back: false,
            logout: false,
            set: None,
            sets: vec![],
            privilege: Privilege::User,
            cases: vec![],
        }
    }

    fn console() -> Console {
        Console {
            banner: Text::default(),
            login: Login::UserPassword,
            login_prompt: Text::default(),
            password_prompt: Text::default(),
            login_failed: Text::default(),
            max_tries: 3,
            accept_after: 0,
            failure_delay_ms: (0, 0),
            locked: Text::default(),
            welcome: Text::default(),
            goodbye: Text::default(),
            unknown: Text::default(),
            incomplete: Text::default(),
            ambiguous: Text::default(),
            denied: Text::default(),
            invalid: Text::default(),
            idle_message: Text::default(),
            login_timeout: Duration::from_secs(60),
            idle_timeout: Duration::from_secs(300),
            abbreviate: true,
            ignore_case: true,
            modes: vec![],
            commands: vec![
                cmd("show version", &[], (0, 0)),
                cmd("show vlan", &[], (0, 1)),
                cmd("show", &["enable"], (1, 1)),
                cmd("set register", &[], (2, 2)),
                cmd("exit", &[], (0, 0)),
                cmd("enable", &["user"], (0, 0)),
            ],
            negotiate: vec![],
            new_environ: false,
        }
    }

    fn name(f: &Found<'_>) -> String {
        match f {
            Found::Command(c, a) => format!("{} {:?}", c.words.join(" "), a),
            other => format!("{other:?}"),
        }
    }

    #[test]
    fn matches_like_a_device_cli() {
        let c = console();
        assert_eq!(name(&c.find("user", "show version")), "show version []");
        assert_eq!(name(&c.find("user", "  SH  VER ")), "show version []");
        assert_eq!(name(&c.find("user", "sh vlan 7")), "show vlan [\"7\"]");
        assert_eq!(c.find("user", "show ve"), c.find("user", "show version"));
        // Two commands start with `show v`.
        assert_eq!(c.find("user", "show v"), Found::Ambiguous);
        assert_eq!(c.find("user", "show"), Found::Incomplete);
        assert_eq!(c.find("user", "set register 1"), Found::Incomplete);
        assert_eq!(name(&c.find("user", "set reg 1 2")), "set register [\"1\", \"2\"]");
        assert_eq!(c.find("user", "set register 1 2 3"), Found::Unknown);
        assert_eq!(c.find("user", "reboot"), Found::Unknown);
        assert_eq!(c.find("user", ""), Found::Empty);
        // Modes: `enable` is not in `enable`, `show X` is.
        assert_eq!(c.find("enable", "enable"), Found::Unknown);
        assert_eq!(name(&c.find("enable", "show running")), "show [\"running\"]");
        assert!(c.help("user").contains("show version"));
        // The same words with other argument counts: the one that fits.
        let mut c = console();
        c.commands.push(Command {
            help: "set register (one)".into(),
            ..cmd("set register", &[], (1, 1))
        });
        let Found::Command(one, _) = c.find("user", "set register 7") else {
            panic!()
        };
        assert_eq!(one.help, "set register (one)");
        let Found::Command(two, _) = c.find("user", "set register 7 8") else {
            panic!()
        };
        assert_eq!(two.help, "set register");
        assert_eq!(c.find("user", "set register 1 2 3"), Found::Unknown);
        assert!(!c.help("enable").contains("  enable"));
    }
}
