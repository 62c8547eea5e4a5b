//! Device authorization grants, on both backends: decided once, handed out once, slowed down
//! when polled too fast, expired on time, purged.

use super::*;

fn grant(code: &str, hash: u8) -> NewDeviceGrant {
    NewDeviceGrant {
        device_hash: [hash; 32],
        user_code: code.into(),
        expires_at: NOW + 600,
        interval_secs: 5,
        client_address: "203.0.113.9".into(),
        client_agent: "doorman-cli/0.1".into(),
    }
}

on_both_backends! {
async fn an_approved_grant_is_handed_out_once_and_polling_too_fast_slows_down(s: Store) {
    let user = local(&s, "ada", &[]).await;
    s.create_device_grant(grant("BCDFGHJK", 1), NOW).await.expect("create");
    assert!(matches!(
        s.create_device_grant(grant("BCDFGHJK", 2), NOW).await,
        Err(StoreError::Conflict(_))
    ));
    let shown = s.device_grant("BCDFGHJK").await.expect("read").expect("found");
    assert_eq!(
        (shown.status.as_str(), shown.client_agent.as_str(), shown.created_at),
        ("pending", "doorman-cli/0.1", NOW)
    );
    assert_eq!(s.poll_device_grant([1; 32], NOW + 5).await.expect("poll"), DevicePoll::Pending);
    assert_eq!(
        s.poll_device_grant([1; 32], NOW + 7).await.expect("poll"),
        DevicePoll::SlowDown { interval_secs: 10 }
    );
    // The interval is now 10 s from the last poll.
    assert_eq!(
        s.poll_device_grant([1; 32], NOW + 15).await.expect("poll"),
        DevicePoll::SlowDown { interval_secs: 15 }
    );
    assert_eq!(s.poll_device_grant([1; 32], NOW + 30).await.expect("poll"), DevicePoll::Pending);
    let approve = DeviceDecision::Approve { user_id: user.id, groups: Some("[\"eng\"]".into()) };
    assert!(s.decide_device_grant("BCDFGHJK", approve.clone(), NOW + 31).await.expect("decide"));
    assert!(!s.decide_device_grant("BCDFGHJK", DeviceDecision::Deny, NOW + 32).await.expect("once"));
    assert_eq!(
        s.poll_device_grant([1; 32], NOW + 32).await.expect("poll"),
        DevicePoll::Approved { user_id: user.id, groups: Some("[\"eng\"]".into()) }
    );
    assert_eq!(s.poll_device_grant([1; 32], NOW + 60).await.expect("poll"), DevicePoll::Unknown);
    assert_eq!(s.poll_device_grant([9; 32], NOW + 60).await.expect("poll"), DevicePoll::Unknown);
}

async fn a_denied_grant_stays_denied_and_an_expired_one_cannot_be_decided(s: Store) {
    let user = local(&s, "ada", &[]).await;
    s.create_device_grant(grant("BBBBBBBB", 1), NOW).await.expect("create");
    s.create_device_grant(grant("CCCCCCCC", 2), NOW).await.expect("create");
    assert!(s.decide_device_grant("BBBBBBBB", DeviceDecision::Deny, NOW + 1).await.expect("deny"));
    assert_eq!(s.poll_device_grant([1; 32], NOW + 10).await.expect("poll"), DevicePoll::Denied);
    assert_eq!(s.poll_device_grant([1; 32], NOW + 20).await.expect("poll"), DevicePoll::Denied);
    let approve = DeviceDecision::Approve { user_id: user.id, groups: None };
    assert!(!s.decide_device_grant("CCCCCCCC", approve, NOW + 600).await.expect("late"));
    assert_eq!(s.poll_device_grant([2; 32], NOW + 600).await.expect("poll"), DevicePoll::Expired);
    assert!(!s.decide_device_grant("ZZZZZZZZ", DeviceDecision::Deny, NOW).await.expect("unknown"));
    assert_eq!(s.purge(NOW + 601, 0).await.expect("purge").device_grants, 0, "kept a while");
    let purged = s.purge(NOW + 1201, 0).await.expect("purge");
    assert_eq!(purged.device_grants, 2);
    assert_eq!(s.device_grant("CCCCCCCC").await.expect("read"), None);
}
}
