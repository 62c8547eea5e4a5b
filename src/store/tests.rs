//! The store's behaviour, backend by backend: every test here runs against each backend.

use super::*;

const NOW: u64 = 1_800_000_000;

fn sqlite() -> Store {
    Store::open(":memory:", NOW).expect("in-memory store")
}

async fn local(store: &Store, username: &str, roles: &[String]) -> User {
    store
        .create_local(
            NewLocalUser {
                username,
                email: "a@example.com",
                name: "A",
                password_hash: "$argon2id$dummy",
                roles,
            },
            NOW,
        )
        .await
        .expect("created")
}

fn oidc<'a>(issuer: &'a str, subject: &'a str, email: &'a str, admin: bool) -> OidcSignIn<'a> {
    OidcSignIn {
        issuer,
        subject,
        email: Some(email),
        email_verified: true,
        name: Some("X"),
        admin_if_new: admin,
    }
}

#[tokio::test]
async fn usernames_are_unique_regardless_of_case() {
    let s = sqlite();
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

#[tokio::test]
async fn provider_users_are_keyed_by_issuer_and_subject_not_email() {
    let s = sqlite();
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

#[tokio::test]
async fn admin_emails_grant_admin_only_when_the_user_is_created() {
    let s = sqlite();
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

#[tokio::test]
async fn the_last_admin_can_be_neither_demoted_nor_deleted() {
    let s = sqlite();
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

#[tokio::test]
async fn changing_roles_or_deleting_revokes_every_live_session_of_the_user() {
    let s = sqlite();
    let ada = local(&s, "ada", &[]).await;
    s.create_session("s-browser", ada.id, NOW, NOW + 3600)
        .await
        .expect("session");
    s.create_session("s-api", ada.id, NOW, NOW + 60)
        .await
        .expect("session");
    s.create_session("s-old", ada.id, NOW - 7200, NOW - 3600)
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
    s.create_session("s-new", ada.id, NOW + 3, NOW + 3600)
        .await
        .expect("session");
    let gone = s.delete_user(ada.id, NOW + 4, 3600).await.expect("delete");
    assert!(gone.iter().any(|r| r.id == "s-new"));
    assert!(matches!(
        s.delete_user(ada.id, NOW, 3600).await,
        Err(StoreError::NotFound)
    ));
}

#[tokio::test]
async fn refresh_tokens_rotate_and_reuse_revokes_the_session() {
    let s = sqlite();
    let user = local(&s, "ada", &[]).await;
    s.create_session("sid-1", user.id, NOW, NOW + 3600)
        .await
        .expect("session");
    let first = s
        .issue_refresh_token(user.id, "sid-1", 3600, NOW)
        .await
        .expect("issue");
    assert_eq!(
        s.refresh_token_session(&first).await.expect("lookup"),
        Some("sid-1".into())
    );
    let RefreshOutcome::Rotated {
        new_token: second,
        sid,
        ..
    } = s
        .rotate_refresh_token(&first, 3600, NOW + 1, 3600)
        .await
        .expect("rotate")
    else {
        panic!("first use rotates");
    };
    assert_eq!(sid, "sid-1");
    assert_eq!(
        s.rotate_refresh_token(&first, 3600, NOW + 2, 3600)
            .await
            .expect("reuse"),
        RefreshOutcome::Reused {
            sid: "sid-1".into()
        }
    );
    assert_eq!(
        s.rotate_refresh_token(&second, 3600, NOW + 3, 3600)
            .await
            .expect("after reuse"),
        RefreshOutcome::Invalid,
        "the successor died with its session"
    );
    assert!(
        s.live_revocations(NOW + 3)
            .await
            .expect("live")
            .iter()
            .any(|r| r.id == "sid-1"),
        "reuse revokes the session's access tokens too"
    );
    assert_eq!(
        s.rotate_refresh_token("made-up", 3600, NOW, 3600)
            .await
            .expect("unknown"),
        RefreshOutcome::Invalid
    );
}

#[tokio::test]
async fn an_expired_refresh_token_is_refused() {
    let s = sqlite();
    let user = local(&s, "ada", &[]).await;
    s.create_session("sid-1", user.id, NOW, NOW + 60)
        .await
        .expect("session");
    let token = s
        .issue_refresh_token(user.id, "sid-1", 60, NOW)
        .await
        .expect("issue");
    assert_eq!(
        s.rotate_refresh_token(&token, 60, NOW + 60, 3600)
            .await
            .expect("rotate"),
        RefreshOutcome::Invalid
    );
}

#[tokio::test]
async fn revocations_are_idempotent_and_purged_once_expired() {
    let s = sqlite();
    let user = local(&s, "ada", &[]).await;
    s.create_session("sid-1", user.id, NOW, NOW + 100)
        .await
        .expect("session");
    let token = s
        .issue_refresh_token(user.id, "sid-1", 100, NOW)
        .await
        .expect("issue");
    let r = Revocation {
        id: "sid-1".into(),
        expires_at: NOW + 50,
    };
    s.revoke(&[r.clone(), r.clone()], NOW)
        .await
        .expect("revoke");
    s.revoke(std::slice::from_ref(&r), NOW)
        .await
        .expect("again");
    assert_eq!(s.live_revocations(NOW).await.expect("live"), vec![r]);
    assert_eq!(
        s.rotate_refresh_token(&token, 100, NOW + 1, 3600)
            .await
            .expect("rotate"),
        RefreshOutcome::Invalid
    );
    assert!(s.live_revocations(NOW + 50).await.expect("live").is_empty());
    let purged = s.purge(NOW + 200, 0).await.expect("purge");
    assert_eq!(
        purged,
        Purged {
            revocations: 1,
            refresh_tokens: 1,
            sessions: 1,
            used_states: 0,
            counters: 0,
        }
    );
}

#[tokio::test]
async fn a_one_time_value_is_claimed_once() {
    let s = sqlite();
    let digest = [7u8; 32];
    assert!(s.claim_once(digest, NOW + 600).await.expect("claim"));
    assert!(!s.claim_once(digest, NOW + 600).await.expect("replay"));
    assert!(s.claim_once([8u8; 32], NOW + 600).await.expect("other"));
    let purged = s.purge(NOW + 601, 0).await.expect("purge");
    assert_eq!(purged.used_states, 2);
}

#[tokio::test]
async fn counters_are_read_changed_and_written_back_and_zero_deletes() {
    let s = sqlite();
    let keys = vec!["a".to_owned(), "b".to_owned()];
    let seen = s
        .update_counters(keys.clone(), |c| {
            let before: Vec<u32> = c.iter().map(|c| c.count).collect();
            for counter in c.iter_mut() {
                counter.count += 2;
                counter.last = NOW;
            }
            before
        })
        .await
        .expect("update");
    assert_eq!(seen, [0, 0]);
    let after = s
        .update_counters(keys.clone(), |c| {
            c[1].count = 0;
            c.to_vec()
        })
        .await
        .expect("update");
    assert_eq!(after[0].count, 2);
    assert_eq!(after[0].last, NOW);
    let third = s
        .update_counters(keys, |c| c.iter().map(|c| c.count).collect::<Vec<_>>())
        .await
        .expect("read");
    assert_eq!(third, [2, 0]);
    assert_eq!(s.purge(NOW, NOW + 1).await.expect("purge").counters, 1);
}
