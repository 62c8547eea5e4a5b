//! The browser's jar of sign-in attempts: each attempt's `FlowState` in an encrypted cookie
//! of its own (named after its `state`, see `flow`), so that two tabs signing in at once never
//! overwrite each other. `/auth/login` begins one (the oldest and unreadable attempts give
//! way, so at most a few cookies exist at once); `/auth/callback` takes the one its `state`
//! names, and that cookie is removed whatever happens next, so an answer can be used once.

use axum_extra::extract::PrivateCookieJar;
use axum_extra::extract::cookie::CookieJar;

use super::SignInError;
use super::flow::{
    FlowState, evictions, flow_cookie, flow_cookie_name, flow_cookie_removal, is_flow_cookie,
    removal_named,
};

/// A request's sign-in attempts: the encrypted jar reads and adds them; removals go through
/// the plain jar, so a cookie that no longer decrypts (tampered, or from before a key change)
/// is removed too.
pub struct FlowJar {
    private: PrivateCookieJar,
    plain: CookieJar,
    https: bool,
}

/// `state` values a malformed callback may name whose attempts are ended; a bound, so a query
/// cannot make the answer carry any number of removals.
const MAX_STATES_ENDED: usize = 4;

impl FlowJar {
    pub fn new(private: PrivateCookieJar, plain: CookieJar, https: bool) -> Self {
        Self {
            private,
            plain,
            https,
        }
    }

    /// Remembers a new attempt, first letting go of the attempts beyond
    /// [`super::flow::MAX_ATTEMPTS`] (unreadable ones first, then the oldest). Returns the
    /// cookies to send.
    pub fn begin(self, flow: &FlowState) -> Result<(CookieJar, PrivateCookieJar), SignInError> {
        let existing = self
            .plain
            .iter()
            .filter(|c| is_flow_cookie(c.name()))
            .map(|c| (c.name().to_owned(), self.created_at(c.name())))
            .collect();
        let https = self.https;
        let plain = evictions(existing)
            .into_iter()
            .fold(self.plain, |jar, name| {
                jar.remove(removal_named(name, https))
            });
        let private = self.private.add(flow_cookie(flow, https)?);
        Ok((plain, private))
    }

    /// The attempt `state` names, if its cookie came and still decrypts, and the cookies that
    /// remove it (whether or not it could be read).
    pub fn take(self, state: Option<&str>) -> (Option<FlowState>, CookieJar) {
        let Some(state) = state else {
            return (None, self.plain);
        };
        let flow = self
            .private
            .get(&flow_cookie_name(state, self.https))
            .and_then(|cookie| serde_json::from_str(cookie.value()).ok());
        (
            flow,
            self.plain.remove(flow_cookie_removal(state, self.https)),
        )
    }

    /// The cookies that end every attempt a callback `query` names, for an answer too
    /// malformed to be judged: it cannot be tried again either.
    pub fn end_attempts_named_in(self, query: Option<&str>) -> CookieJar {
        let https = self.https;
        url::form_urlencoded::parse(query.unwrap_or("").as_bytes())
            .filter(|(k, _)| k == "state")
            .take(MAX_STATES_ENDED)
            .fold(self.plain, |jar, (_, state)| {
                jar.remove(flow_cookie_removal(&state, https))
            })
    }

    /// When the attempt in cookie `name` began, if the cookie still decrypts.
    fn created_at(&self, name: &str) -> Option<u64> {
        self.private
            .get(name)
            .and_then(|c| serde_json::from_str::<FlowState>(c.value()).ok())
            .map(|f| f.created_at)
    }
}

#[cfg(test)]
mod tests {
    use axum::http::{HeaderMap, HeaderValue, header};
    use axum::response::IntoResponse;

    use super::super::flow::flow_cookie_key;
    use super::*;

    const SECRET: &[u8] = b"a session secret long enough for the flow cookie key";

    fn attempt(state: &str, created_at: u64) -> FlowState {
        FlowState {
            state: state.into(),
            nonce: "n".into(),
            pkce_verifier: "v".into(),
            return_to: "/".into(),
            created_at,
            provider: String::new(),
        }
    }

    /// The jar of a request carrying these attempts (encrypted) and these raw cookies.
    fn jar_with(attempts: &[FlowState], raw: &[(String, &str)]) -> FlowJar {
        let key = flow_cookie_key(SECRET);
        let sealed = attempts
            .iter()
            .fold(PrivateCookieJar::new(key.clone()), |jar, f| {
                jar.add(flow_cookie(f, false).expect("cookie"))
            });
        let mut pairs: Vec<String> = attempts
            .iter()
            .map(|f| {
                let name = flow_cookie_name(&f.state, false);
                format!("{name}={}", encrypted(&sealed, &name))
            })
            .collect();
        pairs.extend(raw.iter().map(|(n, v)| format!("{n}={v}")));
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_str(&pairs.join("; ")).expect("header"),
        );
        FlowJar::new(
            PrivateCookieJar::from_headers(&headers, key),
            CookieJar::from_headers(&headers),
            false,
        )
    }

    /// Cookie `name`'s value as `sealed` sends it to the browser, encrypted.
    fn encrypted(sealed: &PrivateCookieJar, name: &str) -> String {
        let response = sealed.clone().into_response();
        response
            .headers()
            .get_all(header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find_map(|c| c.strip_prefix(&format!("{name}=")))
            .and_then(|rest| rest.split(';').next())
            .expect("set")
            .to_owned()
    }

    fn set_cookies(parts: impl IntoResponse) -> Vec<String> {
        parts
            .into_response()
            .headers()
            .get_all(header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok().map(str::to_owned))
            .collect()
    }

    fn removed(cookies: &[String], name: &str) -> bool {
        cookies
            .iter()
            .any(|c| c.starts_with(&format!("{name}=;")) && c.contains("Max-Age=0"))
    }

    #[test]
    fn taking_an_attempt_reads_it_and_removes_its_cookie_even_when_it_no_longer_decrypts() {
        let jar = jar_with(&[attempt("good", 10)], &[]);
        let (flow, cookies) = jar.take(Some("good"));
        assert_eq!(flow, Some(attempt("good", 10)));
        assert!(removed(
            &set_cookies(cookies),
            &flow_cookie_name("good", false)
        ));

        let tampered = flow_cookie_name("tampered", false);
        let jar = jar_with(&[], &[(tampered.clone(), "not-what-doorman-sealed")]);
        let (flow, cookies) = jar.take(Some("tampered"));
        assert_eq!(flow, None);
        assert!(removed(&set_cookies(cookies), &tampered));
    }

    #[test]
    fn a_new_attempt_lets_unreadable_then_the_oldest_attempts_go() {
        let junk = flow_cookie_name("junk", false);
        let jar = jar_with(
            &[attempt("old", 10), attempt("mid", 20), attempt("new", 30)],
            &[(junk.clone(), "garbage")],
        );
        let cookies = set_cookies(jar.begin(&attempt("next", 40)).expect("begun"));
        assert!(removed(&cookies, &junk), "{cookies:?}");
        assert!(
            removed(&cookies, &flow_cookie_name("old", false)),
            "{cookies:?}"
        );
        for kept in ["mid", "new"] {
            assert!(!removed(&cookies, &flow_cookie_name(kept, false)), "{kept}");
        }
        let next = flow_cookie_name("next", false);
        assert!(
            cookies
                .iter()
                .any(|c| c.starts_with(&format!("{next}=")) && !removed(&cookies, &next))
        );
    }

    #[test]
    fn a_malformed_answer_ends_the_attempts_it_names_four_at_most() {
        let query: String = (0..6).map(|i| format!("state=s{i}&")).collect();
        let carried: Vec<(String, &str)> = (0..6)
            .map(|i| (flow_cookie_name(&format!("s{i}"), false), "x"))
            .collect();
        let cookies = set_cookies(jar_with(&[], &carried).end_attempts_named_in(Some(&query)));
        assert_eq!(cookies.len(), MAX_STATES_ENDED, "{cookies:?}");
        for i in 0..MAX_STATES_ENDED {
            assert!(removed(
                &cookies,
                &flow_cookie_name(&format!("s{i}"), false)
            ));
        }
    }
}
