//! The `check:` section of `survey.yaml`: a severity per check.

use serde::Deserialize;

/// How much a finding of a check matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Not reported.
    Off,
    /// Listed for information.
    Info,
    /// Reported; `survey check` still succeeds.
    Warning,
    /// Reported; `survey check` exits with 1.
    Error,
}

/// One check of `survey check`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum CheckKind {
    /// A problem that stops the build (invalid YAML, a missing entry, …).
    Build,
    BrokenLinks,
    BrokenAnchors,
    UnknownCitations,
    UncitedEntries,
    EmptyNodes,
    UnclassifiedPapers,
    MissingSummaries,
    Drafts,
    StaleFreeze,
    DuplicateIds,
    MissingAlt,
    ExternalLinks,
}

impl CheckKind {
    /// Every check that has a key in `survey.yaml`.
    pub const CONFIGURABLE: [CheckKind; 12] = [
        CheckKind::BrokenLinks,
        CheckKind::BrokenAnchors,
        CheckKind::UnknownCitations,
        CheckKind::UncitedEntries,
        CheckKind::EmptyNodes,
        CheckKind::UnclassifiedPapers,
        CheckKind::MissingSummaries,
        CheckKind::Drafts,
        CheckKind::StaleFreeze,
        CheckKind::DuplicateIds,
        CheckKind::MissingAlt,
        CheckKind::ExternalLinks,
    ];

    /// Key of the check in the `check:` section, shown after each finding.
    pub fn key(self) -> &'static str {
        match self {
            CheckKind::Build => "build",
            CheckKind::BrokenLinks => "broken-links",
            CheckKind::BrokenAnchors => "broken-anchors",
            CheckKind::UnknownCitations => "unknown-citations",
            CheckKind::UncitedEntries => "uncited-entries",
            CheckKind::EmptyNodes => "empty-nodes",
            CheckKind::UnclassifiedPapers => "unclassified-papers",
            CheckKind::MissingSummaries => "missing-summaries",
            CheckKind::Drafts => "drafts",
            CheckKind::StaleFreeze => "stale-freeze",
            CheckKind::DuplicateIds => "duplicate-ids",
            CheckKind::MissingAlt => "missing-alt",
            CheckKind::ExternalLinks => "external-links",
        }
    }

    /// Severity when `survey.yaml` does not set one. What breaks the
    /// published site is an error; what only makes it incomplete is a
    /// warning.
    pub fn default_severity(self) -> Severity {
        match self {
            CheckKind::Build | CheckKind::BrokenLinks | CheckKind::BrokenAnchors | CheckKind::UnknownCitations => Severity::Error,
            CheckKind::ExternalLinks => Severity::Info,
            _ => Severity::Warning,
        }
    }
}

/// Severities set in `survey.yaml`, such as
/// `check: { uncited-entries: error, drafts: info }`. Unknown keys are
/// errors, with the line of the key.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct CheckConfig {
    pub broken_links: Option<Severity>,
    pub broken_anchors: Option<Severity>,
    pub unknown_citations: Option<Severity>,
    pub uncited_entries: Option<Severity>,
    pub empty_nodes: Option<Severity>,
    pub unclassified_papers: Option<Severity>,
    pub missing_summaries: Option<Severity>,
    pub drafts: Option<Severity>,
    pub stale_freeze: Option<Severity>,
    pub duplicate_ids: Option<Severity>,
    pub missing_alt: Option<Severity>,
    pub external_links: Option<Severity>,
}

impl CheckConfig {
    /// Returns the severity of `kind`: the configured one or the default. Problems
    /// that stop the build are always errors.
    pub fn severity(&self, kind: CheckKind) -> Severity {
        let configured = match kind {
            CheckKind::Build => None,
            CheckKind::BrokenLinks => self.broken_links,
            CheckKind::BrokenAnchors => self.broken_anchors,
            CheckKind::UnknownCitations => self.unknown_citations,
            CheckKind::UncitedEntries => self.uncited_entries,
            CheckKind::EmptyNodes => self.empty_nodes,
            CheckKind::UnclassifiedPapers => self.unclassified_papers,
            CheckKind::MissingSummaries => self.missing_summaries,
            CheckKind::Drafts => self.drafts,
            CheckKind::StaleFreeze => self.stale_freeze,
            CheckKind::DuplicateIds => self.duplicate_ids,
            CheckKind::MissingAlt => self.missing_alt,
            CheckKind::ExternalLinks => self.external_links,
        };
        configured.unwrap_or_else(|| kind.default_severity())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configured_severities_replace_defaults() {
        let config: CheckConfig = serde_yaml::from_str("uncited-entries: error\ndrafts: info\n").unwrap();
        assert_eq!(config.severity(CheckKind::UncitedEntries), Severity::Error);
        assert_eq!(config.severity(CheckKind::Drafts), Severity::Info);
        assert_eq!(config.severity(CheckKind::BrokenLinks), Severity::Error);
        assert_eq!(config.severity(CheckKind::ExternalLinks), Severity::Info);
    }

    #[test]
    fn every_configurable_key_is_accepted() {
        for kind in CheckKind::CONFIGURABLE {
            let yaml = format!("{}: off\n", kind.key());
            let config: CheckConfig = serde_yaml::from_str(&yaml).unwrap_or_else(|error| panic!("{yaml}: {error}"));
            assert_eq!(config.severity(kind), Severity::Off);
        }
    }

    #[test]
    fn unknown_keys_and_values_are_rejected() {
        assert!(serde_yaml::from_str::<CheckConfig>("draft: info\n").unwrap_err().to_string().contains("unknown field `draft`"));
        assert!(serde_yaml::from_str::<CheckConfig>("drafts: no\n").is_err());
    }
}
