//! The route templates, matched the way the router matches them: which template a path is
//! (for the metrics' and the access log's `route` label, never the raw path), and which
//! routes stay out of the access log unless `LOG_HEALTH_CHECKS=true`.

/// The label of a path no route matched.
pub const UNMATCHED: &str = "unmatched";
/// Routes whose requests are not logged unless `LOG_HEALTH_CHECKS=true`.
const QUIET: &[&str] = &["/healthz", "/readyz"];

/// The route templates, matched the way the router matches them.
pub(super) struct RouteIndex {
    matcher: matchit::Router<usize>,
    /// Per template: whether its requests stay out of the access log.
    pub(super) quiet: Vec<bool>,
    /// The index of `UNMATCHED`.
    pub(super) unmatched: usize,
}

impl RouteIndex {
    pub(super) fn new(templates: &[&'static str]) -> Self {
        let mut matcher = matchit::Router::new();
        for (i, template) in templates.iter().enumerate() {
            // The router's own templates, which it accepted (proxy routes are found apart).
            if template.starts_with('/') {
                let _ = matcher.insert(*template, i);
            }
        }
        Self {
            matcher,
            quiet: templates.iter().map(|t| QUIET.contains(t)).collect(),
            unmatched: templates.len().saturating_sub(1),
        }
    }

    pub(super) fn find(&self, path: &str) -> usize {
        self.matcher
            .at(path)
            .map(|m| *m.value)
            .unwrap_or(self.unmatched)
    }
}
