//! The one email allow-list: what `ALLOWED_EMAILS` + `ALLOWED_EMAIL_DOMAINS` say for sign-in
//! and registration, and what a gateway policy's `emails` + `domains` say for a service.
//! Exact emails and whole domains (never their subdomains), compared without regard to ASCII
//! letter case, as people expect of an address: `Ada@Example.COM` is `ada@example.com`. The
//! entries are kept trimmed and lower-cased (a domain without a leading `@`); the address
//! being judged is compared as it comes, so no rule depends on who lower-cased what.
//!
//! A value type with its matching rule, on the bottom floor, so that config, the sign-in
//! policy and the gateway all use this one without anyone importing upwards.

/// Emails and email domains that are let through; none at all lets everyone through.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EmailList {
    emails: Vec<String>,
    domains: Vec<String>,
}

impl EmailList {
    /// The list of these emails and domains, normalised as the module says. Entries are
    /// kept as given otherwise: whether each is well-formed is for the caller to judge
    /// (`emails()`, `domains()`).
    pub fn new<E, D>(emails: E, domains: D) -> Self
    where
        E: IntoIterator,
        E::Item: AsRef<str>,
        D: IntoIterator,
        D::Item: AsRef<str>,
    {
        Self {
            emails: emails.into_iter().map(|e| normalise(e.as_ref())).collect(),
            domains: domains
                .into_iter()
                .map(|d| normalise(d.as_ref().trim().trim_start_matches('@')))
                .collect(),
        }
    }

    pub fn emails(&self) -> &[String] {
        &self.emails
    }

    pub fn domains(&self) -> &[String] {
        &self.domains
    }

    /// No emails and no domains: everyone passes, with or without an email.
    pub fn is_open(&self) -> bool {
        self.emails.is_empty() && self.domains.is_empty()
    }

    /// Whether `email` is one the list names: one of its emails, or an address at one of its
    /// domains. An open list names everyone. Matching only: whether the email is *verified*
    /// is the caller's question (or [`Self::admits`]'s).
    pub fn names(&self, email: &str) -> bool {
        self.is_open()
            || self.emails.iter().any(|e| e.eq_ignore_ascii_case(email))
            || email.rsplit_once('@').is_some_and(|(_, domain)| {
                self.domains.iter().any(|d| d.eq_ignore_ascii_case(domain))
            })
    }

    /// Whether someone with `email` passes: everyone through an open list; otherwise only
    /// with an email the provider `verified` and the list names.
    pub fn admits(&self, email: Option<&str>, verified: bool) -> bool {
        self.is_open() || email.is_some_and(|email| verified && self.names(email))
    }
}

fn normalise(entry: &str) -> String {
    entry.trim().to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allow_lists_match_emails_and_whole_domains_only() {
        let lists = EmailList::new(["guest@partner.test"], ["example.com"]);
        assert!(lists.names("Ada@Example.com"));
        assert!(lists.names("guest@partner.test"));
        assert!(!lists.names("eve@example.com.evil.test"));
        assert!(!lists.names("eve@sub.example.com"));
        assert!(EmailList::default().names("anyone@anywhere.test"));
    }

    #[test]
    fn letter_case_never_matters_on_either_side() {
        // Entries as an operator may type them, addresses as a provider may send them.
        let list = EmailList::new([" Ada@Example.ORG "], ["@Partner.Example", "TEAM.test"]);
        assert_eq!(list.emails(), ["ada@example.org"]);
        assert_eq!(list.domains(), ["partner.example", "team.test"]);
        for email in [
            "ada@example.org",
            "ADA@EXAMPLE.ORG",
            "aDa@eXample.Org",
            "bob@partner.example",
            "Bob@PARTNER.EXAMPLE",
            "x@Team.Test",
        ] {
            assert!(list.names(email), "{email}");
            assert!(list.admits(Some(email), true), "{email}");
        }
        assert!(!list.names("ada@example.org.evil"));
        assert!(
            !list.admits(Some("ADA@EXAMPLE.ORG"), false),
            "verified or not at all"
        );
        assert!(!list.admits(None, true));
    }
}
