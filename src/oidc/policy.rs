//! Who may sign in through the provider: optional allow-lists of email domains, emails and
//! Google Workspace domains (`hd`). With none configured, every provider account may.
//!
//! Emails count only when the provider verified them, and `hd` only from the signed ID token
//! (never from userinfo or the request), so neither can be claimed by the user.

use super::SignInError;
use crate::config::AccessLists;
use crate::identity::Identity;

/// Whether the provider-vouched `identity` may sign in; `hosted_domain` is the ID token's
/// `hd` claim, if any.
pub fn check(
    lists: &AccessLists,
    identity: &Identity,
    hosted_domain: Option<&str>,
) -> Result<(), SignInError> {
    if !lists.hosted_domains.is_empty() {
        let allowed = hosted_domain.is_some_and(|hd| {
            lists
                .hosted_domains
                .iter()
                .any(|d| d.eq_ignore_ascii_case(hd))
        });
        if !allowed {
            return Err(SignInError::NotAllowed("hosted_domain"));
        }
    }
    if lists.email.is_open() {
        return Ok(());
    }
    let email = identity
        .email
        .as_deref()
        .filter(|_| identity.email_verified)
        .ok_or(SignInError::NotAllowed("email_unverified"))?;
    if lists.email.names(email) {
        Ok(())
    } else {
        Err(SignInError::NotAllowed("email_not_allowed"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::EmailList;

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
            groups: Vec::new(),
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
            email: EmailList::new(["guest@partner.test"], ["example.com"]),
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
            Err(SignInError::NotAllowed("email_unverified"))
        );
        assert_eq!(
            check(&policy, &person("eve@example.com.evil.test", true), None),
            Err(SignInError::NotAllowed("email_not_allowed"))
        );
        assert_eq!(
            check(&policy, &person("eve@sub.example.com", true), None),
            Err(SignInError::NotAllowed("email_not_allowed")),
            "subdomains are not the domain"
        );
    }

    #[test]
    fn sign_in_and_a_gateway_policy_agree_on_mixed_case_emails() {
        // The same lists, typed in mixed case once as variables and once in a policy file.
        let config = crate::config::Config::from_lookup(|name| match name {
            "ALLOWED_EMAILS" => Some("Ada@Example.ORG".into()),
            "ALLOWED_EMAIL_DOMAINS" => Some("@Partner.Example".into()),
            _ => None,
        })
        .expect("config");
        let policies = crate::config::parse_policies(
            "p.toml",
            "[gateway.policy.team]\nemails = [\"Ada@Example.ORG\"]\ndomains = [\"@Partner.Example\"]\n",
        )
        .expect("policies");
        for (email, admitted) in [
            ("ada@example.org", true),
            ("ADA@EXAMPLE.ORG", true),
            ("aDa@ExAmPlE.oRg", true),
            ("Bob@PARTNER.example", true),
            ("bob@Sub.Partner.Example", false),
            ("Ada@Example.ORG.evil.test", false),
            ("Eve@Example.ORG", false),
        ] {
            let signs_in = check(&config.access, &person(email, true), None).is_ok();
            let passes = policies["team"].admits_email(Some(email), true);
            assert_eq!((signs_in, passes), (admitted, admitted), "{email}");
        }
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
            Err(SignInError::NotAllowed("hosted_domain")),
            "a personal account with the right email domain is not a Workspace account"
        );
    }
}
