//! What a module run leaves behind: its verdict and the evidence for it.
//!
//! A module's log is a list of [`Entry`]s in the order they happened: the checks it made, each
//! with its outcome, and every HTTP exchange it saw (secrets masked, see [`crate::http`]). The
//! verdict follows from the log: any failure makes it FAILED, else any warning WARNING, else
//! anything left for a person to judge REVIEW, else PASSED. SKIPPED says the module could not
//! apply to this provider, and why.

use serde::Serialize;

use crate::http::Exchange;

/// A module's verdict, in the OpenID Foundation suite's vocabulary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Verdict {
    Passed,
    Skipped,
    Review,
    Warning,
    Failed,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Passed => "PASSED",
            Verdict::Skipped => "SKIPPED",
            Verdict::Review => "REVIEW",
            Verdict::Warning => "WARNING",
            Verdict::Failed => "FAILED",
        }
    }
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// What the module did or saw, no judgement.
    Info,
    Success,
    /// A SHOULD or a recommendation not followed.
    Warning,
    /// A MUST not followed: the module fails.
    Failure,
    /// Only a person can judge (an error page's wording, say).
    Review,
}

/// One line of a module's log.
#[derive(Debug, Clone, Serialize)]
pub struct Entry {
    /// Milliseconds since the module started.
    pub at_ms: u64,
    #[serde(flatten)]
    pub item: Item,
}

#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Item {
    /// A check: what was checked (a condition name, stable across runs), its outcome, the
    /// finding in words, and where the requirement comes from.
    Check {
        condition: String,
        outcome: Outcome,
        message: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        requirement: Option<String>,
    },
    Http(Exchange),
}

/// Why a module stopped before its end.
#[derive(Debug)]
pub enum Stop {
    /// A failure was logged; nothing after it can be checked.
    Failed,
    /// The module does not apply to this provider (the reason is in words).
    Skipped(String),
}

/// A module's result.
#[derive(Debug, Clone, Serialize)]
pub struct ModuleReport {
    pub id: String,
    pub summary: String,
    pub verdict: Verdict,
    /// Why it was skipped, or the first failure in words.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub duration_ms: u64,
    pub log: Vec<Entry>,
}

impl ModuleReport {
    /// The verdict a finished log earns.
    pub fn judge(log: &[Entry], stop: Option<&Stop>) -> (Verdict, Option<String>) {
        if let Some(Stop::Skipped(reason)) = stop {
            return (Verdict::Skipped, Some(reason.clone()));
        }
        let first = |wanted: Outcome| {
            log.iter().find_map(|e| match &e.item {
                Item::Check {
                    outcome, message, ..
                } if *outcome == wanted => Some(message.clone()),
                _ => None,
            })
        };
        if let Some(reason) = first(Outcome::Failure) {
            return (Verdict::Failed, Some(reason));
        }
        if matches!(stop, Some(Stop::Failed)) {
            return (Verdict::Failed, Some("the module stopped".into()));
        }
        if let Some(reason) = first(Outcome::Warning) {
            return (Verdict::Warning, Some(reason));
        }
        if let Some(reason) = first(Outcome::Review) {
            return (Verdict::Review, Some(reason));
        }
        (Verdict::Passed, None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(outcome: Outcome, message: &str) -> Entry {
        Entry {
            at_ms: 0,
            item: Item::Check {
                condition: "c".into(),
                outcome,
                message: message.into(),
                requirement: None,
            },
        }
    }

    #[test]
    fn the_worst_outcome_decides() {
        let log = vec![
            check(Outcome::Success, "ok"),
            check(Outcome::Review, "look"),
            check(Outcome::Warning, "should"),
        ];
        assert_eq!(
            ModuleReport::judge(&log, None),
            (Verdict::Warning, Some("should".into()))
        );
        let mut failed = log.clone();
        failed.push(check(Outcome::Failure, "must"));
        assert_eq!(
            ModuleReport::judge(&failed, None),
            (Verdict::Failed, Some("must".into()))
        );
        assert_eq!(
            ModuleReport::judge(&[check(Outcome::Success, "ok")], None).0,
            Verdict::Passed
        );
    }

    #[test]
    fn a_skip_is_not_a_pass_and_a_stop_is_not_either() {
        let log = vec![check(Outcome::Success, "ok")];
        assert_eq!(
            ModuleReport::judge(&log, Some(&Stop::Skipped("no form_post".into()))),
            (Verdict::Skipped, Some("no form_post".into()))
        );
        assert_eq!(
            ModuleReport::judge(&log, Some(&Stop::Failed)).0,
            Verdict::Failed
        );
    }
}
