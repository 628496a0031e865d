//! Configuration failures and warnings. Every problem names the exact key it is about, in the
//! dotted/indexed form a user can find in the file (`trunks[0].allow[1]`), plus where the
//! configuration came from (file path or built-in defaults) and, for parse errors, line and column.
//! A configuration error stops startup with exit code 2.

use std::fmt;
use std::io;
use std::path::PathBuf;

/// One problem with a configuration value, named by its key path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigIssue {
    /// Key path such as `sip.listen` or `trunks[0].allow[1]`.
    pub key: String,
    /// What is wrong, e.g. `invalid CIDR "10.0.0/33": not an IP address`.
    pub message: String,
}

impl ConfigIssue {
    pub fn new(key: impl Into<String>, message: impl Into<String>) -> Self {
        ConfigIssue { key: key.into(), message: message.into() }
    }
}

impl fmt::Display for ConfigIssue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.key, self.message)
    }
}

/// Something suspicious that does not stop startup (e.g. an agent no queue can use).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigWarning {
    pub key: String,
    pub message: String,
}

impl fmt::Display for ConfigWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "config warning: {}: {}", self.key, self.message)
    }
}

/// Why a configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read at all.
    #[error("config error: cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// The file is not valid TOML, has an unknown key, or a value of the wrong type/format.
    /// `key` is empty for pure syntax errors that happen outside any key.
    #[error("config error: {}{message} (at {origin}:{line}:{column})", key_prefix(key))]
    Parse { origin: String, key: String, message: String, line: usize, column: usize },
    /// The file parsed but its values are inconsistent; every problem found is listed.
    #[error("{}", format_issues(origin, issues))]
    Invalid { origin: String, issues: Vec<ConfigIssue> },
}

impl ConfigError {
    /// Process exit code for a configuration failure.
    pub fn exit_code(&self) -> i32 {
        2
    }

    /// The key of the first problem, if the error is about a key.
    pub fn key(&self) -> Option<&str> {
        match self {
            ConfigError::Read { .. } => None,
            ConfigError::Parse { key, .. } if key.is_empty() => None,
            ConfigError::Parse { key, .. } => Some(key),
            ConfigError::Invalid { issues, .. } => issues.first().map(|issue| issue.key.as_str()),
        }
    }

    /// All key-named problems (one for a parse error, none for a read error).
    pub fn issues(&self) -> Vec<ConfigIssue> {
        match self {
            ConfigError::Read { .. } => Vec::new(),
            ConfigError::Parse { key, message, .. } => vec![ConfigIssue::new(key, message)],
            ConfigError::Invalid { issues, .. } => issues.clone(),
        }
    }
}

fn key_prefix(key: &str) -> String {
    if key.is_empty() {
        String::new()
    } else {
        format!("{key}: ")
    }
}

fn format_issues(origin: &str, issues: &[ConfigIssue]) -> String {
    let mut out = String::new();
    for (index, issue) in issues.iter().enumerate() {
        if index > 0 {
            out.push('\n');
        }
        out.push_str(&format!("config error: {issue} (in {origin})"));
    }
    if issues.is_empty() {
        out.push_str(&format!("config error: invalid configuration (in {origin})"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_display_names_key_first() {
        let err = ConfigError::Invalid {
            origin: "meritline.toml".into(),
            issues: vec![ConfigIssue::new("trunks[0].allow[1]", "invalid CIDR \"10.0.0/33\"")],
        };
        assert_eq!(err.to_string(), "config error: trunks[0].allow[1]: invalid CIDR \"10.0.0/33\" (in meritline.toml)");
        assert_eq!(err.exit_code(), 2);
        assert_eq!(err.key(), Some("trunks[0].allow[1]"));
    }

    #[test]
    fn invalid_display_lists_every_issue() {
        let err = ConfigError::Invalid {
            origin: "x.toml".into(),
            issues: vec![ConfigIssue::new("a", "one"), ConfigIssue::new("b", "two")],
        };
        assert_eq!(err.to_string(), "config error: a: one (in x.toml)\nconfig error: b: two (in x.toml)");
        assert_eq!(err.issues().len(), 2);
    }

    #[test]
    fn parse_display_has_location_and_optional_key() {
        let err = ConfigError::Parse {
            origin: "x.toml".into(),
            key: "sip.foo".into(),
            message: "unknown key".into(),
            line: 3,
            column: 1,
        };
        assert_eq!(err.to_string(), "config error: sip.foo: unknown key (at x.toml:3:1)");
        let syntax = ConfigError::Parse {
            origin: "x.toml".into(),
            key: String::new(),
            message: "invalid table header".into(),
            line: 1,
            column: 5,
        };
        assert_eq!(syntax.to_string(), "config error: invalid table header (at x.toml:1:5)");
        assert_eq!(syntax.key(), None);
    }

    #[test]
    fn read_display_names_path() {
        let err = ConfigError::Read {
            path: PathBuf::from("/nope.toml"),
            source: io::Error::new(io::ErrorKind::NotFound, "No such file or directory"),
        };
        assert_eq!(err.to_string(), "config error: cannot read /nope.toml: No such file or directory");
        assert_eq!(err.exit_code(), 2);
    }
}
