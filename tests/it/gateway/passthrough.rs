//! The allow answer's `X-Doorman-Cookie` and `X-Doorman-Authorization`: what the service behind
//! nginx or Caddy may have of the client's `Cookie` and `Authorization` (the proxy sets them
//! from the answer; `tests/gateway/` checks what a real upstream receives). Doorman's cookies
//! never, in any number, prefix or line; a Bearer credential never, in any spelling; everything
//! else exactly, in order.

use super::{APP, auth_request, cookie, forward_auth, gateway};

fn answer(response: &reqwest::Response, name: &str) -> String {
    let value = response
        .headers()
        .get(name)
        .unwrap_or_else(|| panic!("{name} is always in an allow answer"));
    String::from_utf8(value.as_bytes().to_vec()).expect("utf-8")
}

#[tokio::test]
async fn the_allow_answer_gives_the_service_every_cookie_but_doormans_in_every_form() {
    let app = gateway(&[]).await;
    let t = app.session_for(Some(4), &[]);
    let session = cookie(&t);
    // The audit's cases: a tossed cookie, the `__Host-`/`__Secure-` pair while COOKIE_DOMAIN
    // changes, two Cookie lines, sign-in attempts, doorman's cookie first, nothing else left.
    let cases: Vec<(Vec<String>, &str)> = vec![
        (
            vec![format!("theme=dark; {session}; lang=en")],
            "theme=dark; lang=en",
        ),
        (vec![format!("{session}; theme=dark")], "theme=dark"),
        (
            vec![format!("__Secure-access_token={t}; theme=dark; {session}")],
            "theme=dark",
        ),
        (
            vec![format!(
                "__Host-access_token={t}; a=1; __Secure-access_token={t}; {session}"
            )],
            "a=1",
        ),
        (
            vec![
                format!("theme=dark; {session}"),
                format!("__Secure-access_token={t}; lang=en"),
            ],
            "theme=dark; lang=en",
        ),
        (
            vec![format!(
                "doorman_flow_abc=F; __Host-doorman_flow_d=G; x=1; {session}"
            )],
            "x=1",
        ),
        (vec![session.clone()], ""),
    ];
    for (lines, expected) in cases {
        let headers: Vec<(&str, &str)> = lines.iter().map(|l| ("cookie", l.as_str())).collect();
        let nginx = auth_request(&app, "default", &format!("{APP}/x"), &headers).await;
        assert_eq!(nginx.status(), 200, "{lines:?}");
        assert_eq!(answer(&nginx, "x-doorman-cookie"), expected, "{lines:?}");
        assert!(nginx.headers().get("set-cookie").is_none());
        let caddy = forward_auth(&app, "default", "GET", "/x", &headers).await;
        assert_eq!(caddy.status(), 200, "{lines:?}");
        assert_eq!(answer(&caddy, "x-doorman-cookie"), expected, "{lines:?}");
        assert!(caddy.headers().get("set-cookie").is_none());
    }
}

#[tokio::test]
async fn the_allow_answer_passes_another_authorization_scheme_and_never_a_bearer() {
    let app = gateway(&[]).await;
    let t = app.session_for(Some(5), &[]);
    let session = cookie(&t);
    for (authorization, with_cookie, expected) in [
        (format!("Bearer {t}"), false, ""),
        (format!("bearer {t}"), false, ""),
        (format!("BEARER   {t} "), false, ""),
        // A tab after the scheme: the cookie authenticates, and the token still stays out.
        (format!("Bearer\t{t}"), true, ""),
        ("Basic dXNlcjpwYXNz".to_owned(), true, "Basic dXNlcjpwYXNz"),
        ("Negotiate YIIB".to_owned(), true, "Negotiate YIIB"),
    ] {
        let mut headers = vec![("authorization", authorization.as_str())];
        if with_cookie {
            headers.push(("cookie", &session));
        }
        for response in [
            auth_request(&app, "default", &format!("{APP}/"), &headers).await,
            forward_auth(&app, "default", "GET", "/", &headers).await,
        ] {
            assert_eq!(response.status(), 200, "{authorization:?}");
            assert_eq!(
                answer(&response, "x-doorman-authorization"),
                expected,
                "{authorization:?}"
            );
            assert!(response.headers().get("set-cookie").is_none());
        }
    }
    let none = auth_request(&app, "default", &format!("{APP}/"), &[("cookie", &session)]).await;
    assert_eq!(answer(&none, "x-doorman-authorization"), "");
}

#[tokio::test]
async fn an_anonymous_caller_of_a_public_policy_gets_empty_answers_or_its_own_cookies() {
    let app = gateway(&[]).await;
    let bare = auth_request(&app, "open", &format!("{APP}/"), &[]).await;
    assert_eq!(bare.status(), 200);
    for name in [
        "x-doorman-cookie",
        "x-doorman-authorization",
        "x-doorman-user",
    ] {
        assert_eq!(answer(&bare, name), "", "{name}");
    }
    // A stale session cookie makes the caller anonymous here; it is still not the service's.
    let stale = auth_request(
        &app,
        "open",
        &format!("{APP}/"),
        &[
            (
                "cookie",
                "theme=dark; access_token=not-a-session; doorman_flow_x=f",
            ),
            ("authorization", "Basic eDp5"),
        ],
    )
    .await;
    assert_eq!(stale.status(), 200);
    assert_eq!(answer(&stale, "x-doorman-user"), "");
    assert_eq!(answer(&stale, "x-doorman-cookie"), "theme=dark");
    assert_eq!(answer(&stale, "x-doorman-authorization"), "Basic eDp5");
    assert!(stale.headers().get("set-cookie").is_none());
    // Two Authorization lines, a Bearer token among them: refused (RFC 9110 §11.6.2), never
    // let through anonymously with the token.
    let t = app.session_for(Some(6), &[]);
    let two = auth_request(
        &app,
        "open",
        &format!("{APP}/"),
        &[
            ("authorization", "Basic eDp5"),
            ("authorization", &format!("Bearer {t}")),
        ],
    )
    .await;
    assert_eq!(two.status(), 400);
    assert!(two.headers().get("x-doorman-authorization").is_none());
}

#[tokio::test]
async fn a_preflight_lets_the_service_have_no_credentials_at_all() {
    let app = gateway(&[]).await;
    let t = app.session_for(Some(6), &[]);
    let preflight = forward_auth(
        &app,
        "api",
        "OPTIONS",
        "/v1/items",
        &[
            ("origin", "https://web.example.com"),
            ("access-control-request-method", "DELETE"),
            ("cookie", &format!("theme=dark; {}", cookie(&t))),
            ("authorization", "Basic eDp5"),
        ],
    )
    .await;
    assert_eq!(preflight.status(), 200);
    assert_eq!(answer(&preflight, "x-doorman-cookie"), "");
    assert_eq!(answer(&preflight, "x-doorman-authorization"), "");
    assert_eq!(answer(&preflight, "x-doorman-user"), "");
}
