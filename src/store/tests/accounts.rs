//! Users, roles and the last admin, on both backends.

use super::*;

on_both_backends! {
async fn usernames_are_unique_regardless_of_case(s: Store) {
    local(&s, "ada", &[]).await;
    assert!(s.username_taken("ADA").await.expect("query"));
    let dup = s
        .create_local(
            NewLocalUser {
                username: "ADA",
                email: "b@example.com",
                name: "B",
                password_hash: "x",
                roles: &[],
            },
            NOW,
        )
        .await;
    assert!(matches!(dup, Err(StoreError::Conflict("username_taken"))));
    assert!(s.has_local_accounts().await.expect("query"));
}

async fn provider_users_are_keyed_by_issuer_and_subject_not_email(s: Store) {
    let first = s
        .upsert_oidc(oidc("https://idp", "1", "x@example.com", false), NOW)
        .await
        .expect("first");
    let again = s
        .upsert_oidc(oidc("https://idp", "1", "new@example.com", false), NOW)
        .await
        .expect("again");
    assert_eq!(first.id, again.id);
    assert_eq!(again.email.as_deref(), Some("new@example.com"));
    let other = s
        .upsert_oidc(oidc("https://other", "1", "new@example.com", false), NOW)
        .await
        .expect("other");
    assert_ne!(other.id, first.id);
}

async fn admin_emails_grant_admin_only_when_the_user_is_created(s: Store) {
    let boss = s
        .upsert_oidc(oidc("https://idp", "boss", "boss@example.com", true), NOW)
        .await
        .expect("first sign-in");
    assert_eq!(boss.roles, ["admin"]);
    let other_admin = local(&s, "oncall", &["admin".into()]).await;
    s.set_roles(boss.id, vec![], NOW, 3600)
        .await
        .expect("demote");
    let again = s
        .upsert_oidc(
            oidc("https://idp", "boss", "boss@example.com", true),
            NOW + 10,
        )
        .await
        .expect("second sign-in");
    assert!(again.roles.is_empty(), "the demotion sticks");
    assert_eq!(other_admin.roles, ["admin"]);
}

async fn the_last_admin_can_be_neither_demoted_nor_deleted(s: Store) {
    let ada = local(&s, "ada", &["admin".into()]).await;
    assert!(matches!(
        s.set_roles(ada.id, vec!["viewer".into()], NOW, 3600).await,
        Err(StoreError::Conflict("last_admin"))
    ));
    assert!(matches!(
        s.delete_user(ada.id, NOW, 3600).await,
        Err(StoreError::Conflict("last_admin"))
    ));
    let grace = local(&s, "grace", &["admin".into()]).await;
    s.set_roles(ada.id, vec![], NOW, 3600)
        .await
        .expect("another admin remains");
    assert!(matches!(
        s.delete_user(grace.id, NOW, 3600).await,
        Err(StoreError::Conflict("last_admin"))
    ));
    assert_eq!(
        s.current_roles(ada.id).await.expect("roles"),
        Some(Vec::new())
    );
}

async fn changing_roles_or_deleting_revokes_every_live_session_of_the_user(s: Store) {
    let ada = local(&s, "ada", &[]).await;
    add_session(&s, "s-browser", ada.id, NOW, NOW + 3600, None)
        .await
        .expect("session");
    add_session(&s, "s-api", ada.id, NOW, NOW + 60, None)
        .await
        .expect("session");
    add_session(&s, "s-old", ada.id, NOW - 7200, NOW - 3600, None)
        .await
        .expect("session");
    let refresh = s
        .issue_refresh_token(ada.id, "s-api", 30 * 86400, NOW)
        .await
        .expect("refresh");
    let (_, revoked) = s
        .set_roles(ada.id, vec!["viewer".into()], NOW + 1, 3600)
        .await
        .expect("set roles");
    let mut ids: Vec<&str> = revoked.iter().map(|r| r.id.as_str()).collect();
    ids.sort_unstable();
    assert_eq!(ids, ["s-api", "s-browser"], "expired sessions need nothing");
    assert!(
        revoked.iter().all(|r| r.expires_at <= NOW + 1 + 3600),
        "a revocation lasts no longer than a token could"
    );
    assert_eq!(
        s.rotate_refresh_token(&refresh, 3600, NOW + 2, 3600)
            .await
            .expect("rotate"),
        RefreshOutcome::Invalid,
        "the session's refresh tokens died with it"
    );
    let live = s.live_revocations(NOW + 2).await.expect("live");
    assert_eq!(live.len(), 2);
    add_session(&s, "s-new", ada.id, NOW + 3, NOW + 3600, None)
        .await
        .expect("session");
    let gone = s.delete_user(ada.id, NOW + 4, 3600).await.expect("delete");
    assert!(gone.iter().any(|r| r.id == "s-new"));
    assert!(matches!(
        s.delete_user(ada.id, NOW, 3600).await,
        Err(StoreError::NotFound)
    ));
}
}
