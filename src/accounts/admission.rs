//! Admitting a person the provider vouched for as one of doorman's users: their account,
//! keyed by (issuer, subject) and never by email, created at the first sign-in and its profile
//! refreshed at every one. At creation only, `ADMIN_EMAILS` makes them an admin when it names
//! their email and the provider verified it; from then on their roles are the store's, so an
//! admin's demotion sticks.

use crate::config::ClaimsConfig;
use crate::identity::Identity;
use crate::store::{OidcSignIn, Store, StoreError};

/// Records the sign-in of `identity` (from the provider) and returns it as the user it now
/// is: with their user id and current roles.
pub async fn admit_provider_account(
    store: &Store,
    mut identity: Identity,
    admin_emails: &[String],
    now: u64,
) -> Result<Identity, StoreError> {
    let sign_in = OidcSignIn {
        issuer: &identity.issuer,
        subject: &identity.subject,
        email: identity.email.as_deref(),
        email_verified: identity.email_verified,
        name: identity.name.as_deref(),
        admin_if_new: is_admin_email(admin_emails, &identity),
    };
    let user = store.upsert_oidc(sign_in, now).await?;
    identity.user_id = Some(user.id);
    identity.roles = user.roles;
    Ok(identity)
}

/// Adds the roles `ROLE_FROM_GROUPS` grants for `identity`'s provider groups to those the
/// store holds (by hand or `ADMIN_EMAILS`). They are not stored: they come from the groups
/// of each sign-in, so someone taken out of the group at the provider loses the role at
/// their next sign-in, while a role granted in doorman stays whatever the groups say.
pub fn grant_group_roles(identity: &mut Identity, claims: &ClaimsConfig) {
    let granted: Vec<String> = claims
        .roles_for(&identity.groups)
        .into_iter()
        .filter(|role| !identity.roles.iter().any(|r| r == role))
        .map(str::to_owned)
        .collect();
    identity.roles.extend(granted);
}

/// `ADMIN_EMAILS` trusts an email only when the provider verified it; letter case does not
/// matter (as for every email list). An empty list names nobody.
fn is_admin_email(admin_emails: &[String], identity: &Identity) -> bool {
    identity.email_verified
        && identity
            .email
            .as_deref()
            .is_some_and(|email| admin_emails.iter().any(|a| a.eq_ignore_ascii_case(email)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::ADMIN_ROLE;

    fn person(subject: &str, email: &str, verified: bool) -> Identity {
        Identity {
            issuer: "https://idp.example".into(),
            subject: subject.into(),
            email: Some(email.into()),
            email_verified: verified,
            name: Some("Ada".into()),
            picture: None,
            user_id: None,
            roles: Vec::new(),
            groups: Vec::new(),
        }
    }

    #[tokio::test]
    async fn a_listed_verified_email_makes_a_new_account_an_admin_whatever_its_case() {
        let store = Store::open(":memory:", 0).expect("store");
        let admins = ["ada@example.com".to_owned()];
        let ada = admit_provider_account(&store, person("1", "Ada@EXAMPLE.com", true), &admins, 0)
            .await
            .expect("admitted");
        assert!(ada.user_id.is_some());
        assert_eq!(ada.roles, [ADMIN_ROLE]);
        let unverified =
            admit_provider_account(&store, person("2", "ada@example.com", false), &admins, 0)
                .await
                .expect("admitted");
        assert!(
            unverified.roles.is_empty(),
            "an unverified email is no proof"
        );
        let nobody = admit_provider_account(&store, person("3", "eve@example.com", true), &[], 0)
            .await
            .expect("admitted");
        assert!(
            nobody.roles.is_empty(),
            "an empty ADMIN_EMAILS names nobody"
        );
    }

    #[tokio::test]
    async fn the_same_provider_account_is_the_same_user_and_keeps_its_roles() {
        let store = Store::open(":memory:", 0).expect("store");
        let admins = ["ada@example.com".to_owned(), "grace@example.com".to_owned()];
        // Another admin, so that Ada's demotion is not refused as the last admin's.
        admit_provider_account(&store, person("0", "grace@example.com", true), &admins, 0)
            .await
            .expect("grace");
        let first =
            admit_provider_account(&store, person("1", "ada@example.com", true), &admins, 0)
                .await
                .expect("first sign-in");
        store
            .set_roles(first.user_id.expect("id"), vec![], 1, 60)
            .await
            .expect("demoted");
        let again =
            admit_provider_account(&store, person("1", "ada@example.com", true), &admins, 2)
                .await
                .expect("second sign-in");
        assert_eq!(again.user_id, first.user_id);
        assert!(
            again.roles.is_empty(),
            "ADMIN_EMAILS applies at creation only"
        );
    }
}
