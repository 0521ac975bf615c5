//! How a short name was resolved on a CRI-O node, in the report: the rule that gave the
//! candidates (an alias, or the unqualified-search registries, and the file), and each
//! candidate tried, in CRI-O's order, with its verdict.

use crate::classify::Verdict;
use crate::endpoints::short_names::Rationale;

/// One candidate CRI-O tries.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Candidate {
    /// The fully-qualified reference.
    pub reference: String,
    /// What probing it gave.
    pub verdict: Verdict,
    /// Why.
    pub reason: String,
}

/// The short-name resolution of one diagnosis.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ShortName {
    /// The name as the kubelet sends it to CRI-O.
    pub input: String,
    /// What gave the candidates.
    pub resolved_by: Rationale,
    /// The file that decided.
    pub origin: String,
    /// How many candidates there are (CRI-O stops at the first that pulls).
    pub candidates: usize,
    /// The candidates tried, in order; the last one decides the report.
    pub tried: Vec<Candidate>,
}

impl ShortName {
    /// One line for the text view.
    pub fn summary(&self) -> String {
        let by = match self.resolved_by {
            Rationale::Alias => "an alias",
            Rationale::SearchRegistries => "unqualified-search-registries",
        };
        let tried: Vec<String> = self
            .tried
            .iter()
            .map(|c| format!("{} ({})", c.reference, c.verdict.as_str()))
            .collect();
        let untried = self.candidates.saturating_sub(self.tried.len());
        format!(
            "{} resolved by {by} in {}: tried {}{}",
            self.input,
            self.origin,
            tried.join(", then "),
            if untried > 0 {
                format!("; {untried} later candidate(s) not needed")
            } else {
                String::new()
            }
        )
    }
}
