//! Who may sign in through the provider: optional allow-lists of email domains, emails and
//! Google Workspace domains (`hd`). With none configured, every provider account may.
//!
//! Emails count only when the provider verified them, and `hd` only from the signed ID token
//! (never from userinfo or the request), so neither can be claimed by the user.

use super::SignInError as AuthError;
use crate::config::AccessLists;
use crate::identity::Identity;

/// Whether the provider-vouched `identity` may sign in; `hosted_domain` is the ID token's
/// `hd` claim, if any.
pub fn check(
    lists: &AccessLists,
    identity: &Identity,
    hosted_domain: Option<&str>,
) -> Result<(), AuthError> {
    if !lists.hosted_domains.is_empty() {
        let allowed = hosted_domain.is_some_and(|hd| {
            lists
                .hosted_domains
                .iter()
                .any(|d| d.eq_ignore_ascii_case(hd))
        });
        if !allowed {
            return Err(AuthError::NotAllowed("hosted_domain"));
        }
    }
    if lists.email_domains.is_empty() && lists.emails.is_empty() {
        return Ok(());
    }
    let email = identity
        .email
        .as_deref()
        .filter(|_| identity.email_verified)
        .ok_or(AuthError::NotAllowed("email_unverified"))?;
    if lists.names_email(email) {
        Ok(())
    } else {
        Err(AuthError::NotAllowed("email_not_allowed"))
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
        let policy = AccessLists::default();
        assert!(policy.is_open());
        assert_eq!(
            check(&policy, &person("x@anywhere.test", false), None),
            Ok(())
        );
    }

    #[test]
    fn domains_and_emails_admit_only_verified_matches() {
        let policy = AccessLists {
            email_domains: vec!["example.com".into()],
            emails: vec!["guest@partner.test".into()],
            hosted_domains: vec![],
        };
        assert_eq!(
            check(&policy, &person("Ada@Example.com", true), None),
            Ok(())
        );
        assert_eq!(
            check(&policy, &person("guest@partner.test", true), None),
            Ok(())
        );
        assert_eq!(
            check(&policy, &person("ada@example.com", false), None),
            Err(AuthError::NotAllowed("email_unverified"))
        );
        assert_eq!(
            check(&policy, &person("eve@example.com.evil.test", true), None),
            Err(AuthError::NotAllowed("email_not_allowed"))
        );
        assert_eq!(
            check(&policy, &person("eve@sub.example.com", true), None),
            Err(AuthError::NotAllowed("email_not_allowed")),
            "subdomains are not the domain"
        );
    }

    #[test]
    fn hosted_domains_come_from_the_id_token_only() {
        let policy = AccessLists {
            hosted_domains: vec!["example.com".into()],
            ..AccessLists::default()
        };
        assert_eq!(
            check(
                &policy,
                &person("ada@example.com", true),
                Some("example.com")
            ),
            Ok(())
        );
        assert_eq!(
            check(&policy, &person("ada@example.com", true), None),
            Err(AuthError::NotAllowed("hosted_domain")),
            "a personal account with the right email domain is not a Workspace account"
        );
    }
}
