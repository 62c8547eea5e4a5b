//! Who may sign in through the provider: optional allow-lists of email domains, emails and
//! Google Workspace domains (`hd`). With none configured, every provider account may.
//!
//! Emails count only when the provider verified them, and `hd` only from the signed ID token
//! (never from userinfo or the request), so neither can be claimed by the user.

use super::AuthError;
use crate::session::Identity;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AccessPolicy {
    /// `ALLOWED_EMAIL_DOMAINS`, lower-cased.
    pub email_domains: Vec<String>,
    /// `ALLOWED_EMAILS`, lower-cased.
    pub emails: Vec<String>,
    /// `ALLOWED_HOSTED_DOMAINS`: Google Workspace domains, from the ID token's `hd` claim.
    pub hosted_domains: Vec<String>,
}

impl AccessPolicy {
    pub fn is_open(&self) -> bool {
        self.email_domains.is_empty() && self.emails.is_empty() && self.hosted_domains.is_empty()
    }

    /// `hosted_domain` is the ID token's `hd` claim, if any.
    pub fn check(&self, identity: &Identity, hosted_domain: Option<&str>) -> Result<(), AuthError> {
        if !self.hosted_domains.is_empty() {
            let allowed = hosted_domain.is_some_and(|hd| {
                self.hosted_domains
                    .iter()
                    .any(|d| d.eq_ignore_ascii_case(hd))
            });
            if !allowed {
                return Err(AuthError::NotAllowed("hosted_domain"));
            }
        }
        if self.email_domains.is_empty() && self.emails.is_empty() {
            return Ok(());
        }
        let email = identity
            .email
            .as_deref()
            .filter(|_| identity.email_verified)
            .ok_or(AuthError::NotAllowed("email_unverified"))?;
        let listed = self.emails.iter().any(|e| e.eq_ignore_ascii_case(email));
        let domain_listed = email.rsplit_once('@').is_some_and(|(_, domain)| {
            self.email_domains
                .iter()
                .any(|d| d.eq_ignore_ascii_case(domain))
        });
        if listed || domain_listed {
            Ok(())
        } else {
            Err(AuthError::NotAllowed("email_not_allowed"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn person(email: &str, verified: bool) -> Identity {
        Identity {
            issuer: "https://accounts.google.com".into(),
            subject: "1".into(),
            email: Some(email.into()),
            email_verified: verified,
            name: None,
            picture: None,
            user_id: None,
            roles: Vec::new(),
        }
    }

    #[test]
    fn no_lists_means_everybody() {
        let policy = AccessPolicy::default();
        assert!(policy.is_open());
        assert_eq!(
            policy.check(&person("x@anywhere.test", false), None),
            Ok(())
        );
    }

    #[test]
    fn domains_and_emails_admit_only_verified_matches() {
        let policy = AccessPolicy {
            email_domains: vec!["example.com".into()],
            emails: vec!["guest@partner.test".into()],
            hosted_domains: vec![],
        };
        assert_eq!(policy.check(&person("Ada@Example.com", true), None), Ok(()));
        assert_eq!(
            policy.check(&person("guest@partner.test", true), None),
            Ok(())
        );
        assert_eq!(
            policy.check(&person("ada@example.com", false), None),
            Err(AuthError::NotAllowed("email_unverified"))
        );
        assert_eq!(
            policy.check(&person("eve@example.com.evil.test", true), None),
            Err(AuthError::NotAllowed("email_not_allowed"))
        );
        assert_eq!(
            policy.check(&person("eve@sub.example.com", true), None),
            Err(AuthError::NotAllowed("email_not_allowed")),
            "subdomains are not the domain"
        );
    }

    #[test]
    fn hosted_domains_come_from_the_id_token_only() {
        let policy = AccessPolicy {
            hosted_domains: vec!["example.com".into()],
            ..AccessPolicy::default()
        };
        assert_eq!(
            policy.check(&person("ada@example.com", true), Some("example.com")),
            Ok(())
        );
        assert_eq!(
            policy.check(&person("ada@example.com", true), None),
            Err(AuthError::NotAllowed("hosted_domain")),
            "a personal account with the right email domain is not a Workspace account"
        );
    }
}
