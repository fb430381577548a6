//! Expected failures: modules a provider is known to fail, each with its reason, the way
//! rustls's BoGo configuration lists the tests it does not pass. A run with expectations fails
//! on any other FAILED module, and on a listed module that no longer fails (so the list only
//! shrinks). The report itself still says FAILED: expectations change the exit status, never
//! a verdict.
//!
//! A file may also pin every module's verdict (`[[verdict]]`): a run then also fails when a
//! module ends otherwise than pinned (a PASSED module turned SKIPPED or WARNING is a change in
//! what the suite can judge, e.g. a broken single sign-on session skipping the modules that
//! need one), and when a plan with pins runs a module that has none.

use std::path::Path;

use serde::Deserialize;

use crate::log::Verdict;
use crate::PlanReport;

/// One module expected to end FAILED.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpectedFailure {
    pub plan: String,
    pub module: String,
    /// Why, for the reader of the report.
    pub reason: String,
}

/// One module's pinned verdict.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PinnedVerdict {
    pub plan: String,
    pub module: String,
    /// `PASSED`, `WARNING`, `SKIPPED`, `REVIEW` (a FAILED module is an `[[failed]]` entry).
    pub verdict: String,
}

/// A file of `[[failed]]` entries, and optionally `[[verdict]]` pins.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expectations {
    #[serde(default)]
    pub failed: Vec<ExpectedFailure>,
    #[serde(default)]
    pub verdict: Vec<PinnedVerdict>,
}

impl Expectations {
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)?;
        let expectations: Self = toml::from_str(&text)?;
        if let Some(e) = expectations
            .failed
            .iter()
            .find(|e| e.reason.trim().is_empty())
        {
            anyhow::bail!("{}: {} {} has no reason", path.display(), e.plan, e.module);
        }
        Ok(expectations)
    }

    fn expects(&self, plan: &str, module: &str) -> Option<&ExpectedFailure> {
        self.failed
            .iter()
            .find(|e| e.plan == plan && e.module == module)
    }

    /// What is wrong with a plan's run: a FAILED module not expected, or an expected one that
    /// did not fail. Empty when the run is as expected.
    pub fn judge(&self, report: &PlanReport) -> Vec<String> {
        let mut problems = Vec::new();
        for module in &report.modules {
            let expected = self.expects(&report.plan, &module.id);
            match (module.verdict == Verdict::Failed, expected) {
                (true, None) => problems.push(format!(
                    "{} {}: FAILED: {}",
                    report.plan,
                    module.id,
                    module.reason.clone().unwrap_or_default()
                )),
                (false, Some(e)) => problems.push(format!(
                    "{} {}: expected to fail ({}), ended {:?}: remove it from the expectations",
                    report.plan, module.id, e.reason, module.verdict
                )),
                _ => {}
            }
            if module.verdict == Verdict::Failed {
                continue;
            }
            let pinned_plan = self.verdict.iter().any(|v| v.plan == report.plan);
            match self
                .verdict
                .iter()
                .find(|v| v.plan == report.plan && v.module == module.id)
            {
                Some(pin) if pin.verdict != module.verdict.as_str() => problems.push(format!(
                    "{} {}: ended {}, pinned {}: {}",
                    report.plan,
                    module.id,
                    module.verdict.as_str(),
                    pin.verdict,
                    module.reason.clone().unwrap_or_default()
                )),
                None if pinned_plan => problems.push(format!(
                    "{} {}: ended {} and has no pinned verdict: pin it",
                    report.plan,
                    module.id,
                    module.verdict.as_str()
                )),
                _ => {}
            }
        }
        problems
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::ModuleReport;

    fn report(verdicts: &[(&str, Verdict)]) -> PlanReport {
        PlanReport {
            plan: "p".into(),
            modules: verdicts
                .iter()
                .map(|(id, verdict)| ModuleReport {
                    id: (*id).into(),
                    summary: String::new(),
                    verdict: *verdict,
                    reason: Some("why".into()),
                    duration_ms: 0,
                    log: Vec::new(),
                })
                .collect(),
            ..PlanReport::default()
        }
    }

    #[test]
    fn only_unexpected_failures_and_stale_expectations_count() {
        let expectations: Expectations =
            toml::from_str("[[failed]]\nplan = \"p\"\nmodule = \"a\"\nreason = \"known\"").unwrap();
        assert!(expectations
            .judge(&report(&[("a", Verdict::Failed), ("b", Verdict::Passed)]))
            .is_empty());
        assert_eq!(
            expectations
                .judge(&report(&[("a", Verdict::Failed), ("b", Verdict::Failed)]))
                .len(),
            1,
            "an unexpected failure"
        );
        assert_eq!(
            expectations.judge(&report(&[("a", Verdict::Passed)])).len(),
            1,
            "an expected failure that passed"
        );
    }

    #[test]
    fn a_pinned_module_that_ends_otherwise_fails_the_run() {
        let expectations: Expectations = toml::from_str(
            "[[verdict]]\nplan = \"p\"\nmodule = \"a\"\nverdict = \"PASSED\"\n\
             [[verdict]]\nplan = \"p\"\nmodule = \"b\"\nverdict = \"SKIPPED\"",
        )
        .unwrap();
        assert!(expectations
            .judge(&report(&[("a", Verdict::Passed), ("b", Verdict::Skipped)]))
            .is_empty());
        let problems =
            expectations.judge(&report(&[("a", Verdict::Skipped), ("b", Verdict::Skipped)]));
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].contains("ended SKIPPED, pinned PASSED"));
        assert_eq!(
            expectations
                .judge(&report(&[("a", Verdict::Passed), ("c", Verdict::Passed)]))
                .len(),
            1,
            "a module without a pin in a pinned plan"
        );
    }
}
