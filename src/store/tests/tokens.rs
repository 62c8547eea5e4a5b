//! Sessions, refresh tokens, revocations, one-time values and counters, on both backends.

use super::*;

on_both_backends! {
async fn refresh_tokens_rotate_and_reuse_revokes_the_session(s: Store) {
    let user = local(&s, "ada", &[]).await;
    add_session(&s, "sid-1", user.id, NOW, NOW + 3600, None)
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

async fn a_sessions_groups_are_kept_with_it_and_none_is_none(s: Store) {
    let user = local(&s, "ada", &[]).await;
    let groups = r#"["sre","Platform, Admins","x/y"]"#;
    add_session(&s, "sid-g", user.id, NOW, NOW + 3600, Some(groups))
        .await
        .expect("session");
    add_session(&s, "sid-n", user.id, NOW, NOW + 3600, None)
        .await
        .expect("session");
    assert_eq!(s.session_groups("sid-g").await.expect("read").as_deref(), Some(groups));
    assert_eq!(s.session_groups("sid-n").await.expect("read"), None);
    assert_eq!(s.session_groups("nobody").await.expect("read"), None);
}

async fn an_expired_refresh_token_is_refused(s: Store) {
    let user = local(&s, "ada", &[]).await;
    add_session(&s, "sid-1", user.id, NOW, NOW + 60, None)
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

async fn revocations_are_idempotent_and_purged_once_expired(s: Store) {
    let user = local(&s, "ada", &[]).await;
    add_session(&s, "sid-1", user.id, NOW, NOW + 100, None)
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
    let purged = s.purge(NOW + 400, 0).await.expect("purge");
    assert_eq!(
        purged,
        Purged {
            revocations: 1,
            refresh_tokens: 1,
            sessions: 1,
            used_states: 0,
            counters: 0,
            device_grants: 0,
        }
    );
}

async fn a_one_time_value_is_claimed_once(s: Store) {
    let digest = [7u8; 32];
    assert!(s.claim_once(digest, NOW + 600).await.expect("claim"));
    assert!(!s.claim_once(digest, NOW + 600).await.expect("replay"));
    assert!(s.claim_once([8u8; 32], NOW + 600).await.expect("other"));
    let purged = s.purge(NOW + 601, 0).await.expect("purge");
    assert_eq!(purged.used_states, 2);
}

async fn counters_are_read_changed_and_written_back_and_zero_deletes(s: Store) {
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
}
