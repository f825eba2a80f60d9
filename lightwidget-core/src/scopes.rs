//! The permissions (OAuth scopes) a connection needs to keep a widget working.

use std::collections::BTreeSet;

use crate::ConnectionKind;

/// The scopes each connection kind must hold. A token whose granted scopes (as the
/// provider reports them: the code exchange's `permissions`, `debug_token`'s `scopes`)
/// lack one of these cannot serve the feed: at connect time that is refused before
/// anything is saved, and a check that finds one removed ends the token with
/// [`ExpiryReason::PermissionRemoved`](crate::ExpiryReason::PermissionRemoved).
///
/// The defaults are what a feed widget reads (`../shared/docs/graph-api-facts.md`):
/// Instagram Login needs `instagram_business_basic`; Facebook Login needs
/// `instagram_basic` and `pages_show_list` (the Page that links the Instagram account).
///
/// ```
/// use lightwidget_core::{ConnectionKind, RequiredScopes};
/// let req = RequiredScopes::default();
/// let granted = ["pages_show_list".to_string()];
/// assert_eq!(req.missing(ConnectionKind::Business, &granted), vec!["instagram_basic"]);
/// assert!(req.missing(ConnectionKind::Consumer, &["instagram_business_basic".into()]).is_empty());
/// // Hosts that publish too can ask for more:
/// let req = req.with(ConnectionKind::Consumer, ["instagram_business_basic", "instagram_business_content_publish"]);
/// assert_eq!(req.missing(ConnectionKind::Consumer, &[]).len(), 2);
/// ```
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct RequiredScopes {
    consumer: BTreeSet<String>,
    business: BTreeSet<String>,
}

impl Default for RequiredScopes {
    fn default() -> Self {
        Self::none()
            .with(ConnectionKind::Consumer, ["instagram_business_basic"])
            .with(
                ConnectionKind::Business,
                ["instagram_basic", "pages_show_list"],
            )
    }
}

impl RequiredScopes {
    /// Requires nothing (no scope check at all).
    pub fn none() -> Self {
        Self {
            consumer: BTreeSet::new(),
            business: BTreeSet::new(),
        }
    }

    /// Replaces the scopes `kind` requires.
    pub fn with<I, S>(mut self, kind: ConnectionKind, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        *self.set_mut(kind) = scopes
            .into_iter()
            .map(Into::into)
            .map(|s: String| s.trim().to_owned())
            .filter(|s| !s.is_empty())
            .collect();
        self
    }

    /// The scopes `kind` requires, sorted.
    pub fn of(&self, kind: ConnectionKind) -> impl Iterator<Item = &str> {
        self.set(kind).iter().map(String::as_str)
    }

    /// The required scopes of `kind` that `granted` lacks, sorted (empty: all granted).
    /// Comparison is exact and case-sensitive, as Meta's scope names are.
    pub fn missing(&self, kind: ConnectionKind, granted: &[String]) -> Vec<String> {
        self.set(kind)
            .iter()
            .filter(|r| !granted.iter().any(|g| g.trim() == r.as_str()))
            .cloned()
            .collect()
    }

    fn set(&self, kind: ConnectionKind) -> &BTreeSet<String> {
        match kind {
            ConnectionKind::Consumer => &self.consumer,
            ConnectionKind::Business => &self.business,
        }
    }

    fn set_mut(&mut self, kind: ConnectionKind) -> &mut BTreeSet<String> {
        match kind {
            ConnectionKind::Consumer => &mut self.consumer,
            ConnectionKind::Business => &mut self.business,
        }
    }
}
