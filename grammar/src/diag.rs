//! Diagnostics: what is wrong with a license file, and exactly where.

use serde::Serialize;
use std::fmt;

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The line (or the part named) is not used.
    Error,
    /// The line is used, but something deserves the administrator's eye.
    Warning,
}

/// One finding, pointing at a file, a physical line and a column.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    pub severity: Severity,
    pub file: String,
    pub line: u32,
    pub column: u32,
    pub message: String,
}

impl Diagnostic {
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        write!(
            f,
            "{}:{}:{}: {}: {}",
            self.file, self.line, self.column, what, self.message
        )
    }
}

/// A finding inside one logical line, before it is placed in a file.
/// Offsets are byte offsets into the logical line's joined text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LineIssue {
    pub severity: Severity,
    pub offset: usize,
    pub message: String,
}

impl LineIssue {
    pub fn error(offset: usize, message: impl Into<String>) -> Self {
        LineIssue {
            severity: Severity::Error,
            offset,
            message: message.into(),
        }
    }

    pub fn warning(offset: usize, message: impl Into<String>) -> Self {
        LineIssue {
            severity: Severity::Warning,
            offset,
            message: message.into(),
        }
    }
}
