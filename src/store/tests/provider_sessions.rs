//! What a session keeps of the provider's (its `sid`, the sealed ID token) and the
//! back-channel logout that names them, on both backends.

use super::*;

const ISSUER: &str = "https://op.example.com";

async fn provider_session(s: &Store, sid: &str, user: i64, op_sid: Option<&str>, until: u64) {
    let new = NewSession {
        sid,
        user_id: user,
        expires_at: until,
        provider_sid: op_sid,
        id_token_hint: Some("sealed-hint"),
        ..NewSession::default()
    };
    s.create_session(new, NOW).await.expect("session");
}

fn logout<'a>(subject: Option<&'a str>, op_sid: Option<&'a str>, jti: u8) -> ProviderLogout<'a> {
    ProviderLogout {
        issuer: ISSUER,
        subject,
        provider_sid: op_sid,
        jti_digest: [jti; 32],
        jti_expires_at: NOW + 600,
    }
}

fn ids(revocations: &[Revocation]) -> Vec<&str> {
    let mut ids: Vec<&str> = revocations.iter().map(|r| r.id.as_str()).collect();
    ids.sort_unstable();
    ids
}

on_both_backends! {
async fn a_logout_by_provider_session_ends_only_that_sessions_and_once(s: Store) {
    let ada = s.upsert_oidc(oidc(ISSUER, "ada", "ada@example.com", false), NOW).await.expect("ada");
    let bob = s.upsert_oidc(oidc(ISSUER, "bob", "bob@example.com", false), NOW).await.expect("bob");
    provider_session(&s, "d-laptop", ada.id, Some("op-1"), NOW + 3600).await;
    provider_session(&s, "d-phone", ada.id, Some("op-2"), NOW + 3600).await;
    provider_session(&s, "d-bob", bob.id, Some("op-1"), NOW + 3600).await;
    let refresh = s.issue_refresh_token(ada.id, "d-laptop", 3600, NOW).await.expect("refresh");

    let done = s.provider_logout(logout(Some("ada"), Some("op-1"), 1), NOW + 1, 3600).await.expect("logout");
    assert_eq!(ids(&done.expect("first use")), ["d-laptop"], "sid and sub both match");
    assert_eq!(
        s.rotate_refresh_token(&refresh, 3600, NOW + 2, 3600).await.expect("rotate"),
        RefreshOutcome::Invalid,
        "its refresh tokens end with it"
    );
    assert_eq!(
        s.provider_logout(logout(Some("ada"), Some("op-2"), 1), NOW + 2, 3600).await.expect("replay"),
        None,
        "the same token (jti) a second time does nothing"
    );
    let live = s.live_revocations(NOW + 2).await.expect("live");
    assert_eq!(ids(&live), ["d-laptop"]);

    let by_sid = s.provider_logout(logout(None, Some("op-1"), 2), NOW + 3, 3600).await.expect("logout");
    assert_eq!(ids(&by_sid.expect("first use")), ["d-bob", "d-laptop"], "sid alone: every session of that provider session");
}

async fn a_logout_by_subject_ends_every_live_session_of_that_person_at_that_issuer(s: Store) {
    let ada = s.upsert_oidc(oidc(ISSUER, "ada", "ada@example.com", false), NOW).await.expect("ada");
    let elsewhere = s
        .upsert_oidc(oidc("https://other.example.com", "ada", "ada@other.example.com", false), NOW)
        .await
        .expect("ada elsewhere");
    provider_session(&s, "d-1", ada.id, Some("op-1"), NOW + 3600).await;
    provider_session(&s, "d-2", ada.id, None, NOW + 60).await;
    provider_session(&s, "d-old", ada.id, None, NOW - 1).await;
    provider_session(&s, "d-other", elsewhere.id, Some("op-1"), NOW + 3600).await;
    let done = s.provider_logout(logout(Some("ada"), None, 3), NOW, 120).await.expect("logout").expect("first use");
    assert_eq!(ids(&done), ["d-1", "d-2"], "not the expired one, not another issuer's");
    assert!(done.iter().all(|r| r.expires_at <= NOW + 120));
    let none = s.provider_logout(logout(Some("nobody"), None, 4), NOW, 120).await.expect("logout");
    assert_eq!(none, Some(Vec::new()), "nobody to sign out is a success that ends nothing");
}

async fn a_renewed_session_lasts_longer_and_its_logout_still_finds_it(s: Store) {
    let ada = s.upsert_oidc(oidc(ISSUER, "ada", "ada@example.com", false), NOW).await.expect("ada");
    provider_session(&s, "d-1", ada.id, Some("op-1"), NOW + 60).await;
    assert!(s.extend_session("d-1", NOW + 3600).await.expect("extend"));
    assert!(s.extend_session("d-1", NOW + 30).await.expect("never shortened"));
    assert!(!s.extend_session("unknown", NOW + 3600).await.expect("no such session"));
    let done = s.provider_logout(logout(None, Some("op-1"), 9), NOW + 120, 3600).await.expect("logout");
    assert_eq!(ids(&done.expect("first use")), ["d-1"], "still live after its first expiry");
    assert!(
        !s.extend_session("d-1", NOW + 7200).await.expect("extend"),
        "a revoked session is never extended"
    );
}

async fn the_sealed_id_token_is_kept_with_its_session(s: Store) {
    let ada = s.upsert_oidc(oidc(ISSUER, "ada", "ada@example.com", false), NOW).await.expect("ada");
    provider_session(&s, "d-1", ada.id, None, NOW + 3600).await;
    add_session(&s, "d-2", ada.id, NOW, NOW + 3600, None).await.expect("session");
    assert_eq!(s.session_id_token_hint("d-1").await.expect("read").as_deref(), Some("sealed-hint"));
    assert_eq!(s.session_id_token_hint("d-2").await.expect("read"), None);
    assert_eq!(s.session_id_token_hint("unknown").await.expect("read"), None);
}
}
