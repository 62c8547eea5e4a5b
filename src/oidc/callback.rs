//! The browser's answer at `/auth/callback`, judged before anything reaches the provider:
//! parameters well-formed and each at most once, the flow cookie present, the state equal (in
//! constant time), the attempt fresh; then the `iss` parameter (RFC 9207), a provider error,
//! the code.
//!
//! `iss` names the provider that answered, so a callback carrying another provider's code
//! (a mix-up attack) is refused. It is required when the provider's discovery document
//! advertises `authorization_response_iss_parameter_supported: true` (the provider then sends
//! it in every answer, errors included, so one without it did not come from the provider);
//! otherwise it is checked when present.

use openidconnect::CsrfToken;

use super::SignInError;
use super::flow::FlowState;
use super::provider::ProviderHandle;
use crate::config::Issuer;

/// The parameters of `/auth/callback`, each at most once.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct CallbackParams {
    pub code: Option<String>,
    pub state: Option<String>,
    pub error: Option<String>,
    pub iss: Option<String>,
}

const MAX_STATE_BYTES: usize = 512;
const MAX_CODE_BYTES: usize = 2048;

pub fn parse_callback_query(query: Option<&str>) -> Result<CallbackParams, SignInError> {
    let mut params = CallbackParams::default();
    for (key, value) in url::form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        let slot = match key.as_ref() {
            "code" => &mut params.code,
            "state" => &mut params.state,
            "error" => &mut params.error,
            "iss" => &mut params.iss,
            _ => continue,
        };
        if slot.is_some() {
            return Err(SignInError::InvalidCallback("duplicate_parameter"));
        }
        *slot = Some(value.into_owned());
    }
    let printable = |s: &str| s.bytes().all(|b| b.is_ascii_graphic());
    if let Some(state) = &params.state
        && (state.is_empty() || state.len() > MAX_STATE_BYTES || !printable(state))
    {
        return Err(SignInError::InvalidCallback("malformed_state"));
    }
    if let Some(code) = &params.code
        && (code.is_empty() || code.len() > MAX_CODE_BYTES || !printable(code))
    {
        return Err(SignInError::InvalidCallback("malformed_code"));
    }
    Ok(params)
}

/// The browser's answer, checked against the attempt it claims to belong to before anything
/// else (in particular before the provider is even looked up), then against the provider.
/// Returns the authorization code to exchange.
pub async fn check_callback(
    provider: &ProviderHandle,
    issuer: &Issuer,
    params: &CallbackParams,
    flow: Option<&FlowState>,
    now: u64,
) -> Result<String, SignInError> {
    check_attempt(params, flow, now)?;
    let provider = provider.get().await?;
    check_answer(params, issuer, provider.requires_iss_parameter)
}

/// The state names the attempt whose flow cookie came along, and that attempt is fresh.
fn check_attempt(
    params: &CallbackParams,
    flow: Option<&FlowState>,
    now: u64,
) -> Result<(), SignInError> {
    let state = params
        .state
        .as_deref()
        .ok_or(SignInError::InvalidCallback("missing_state"))?;
    let flow = flow.ok_or(SignInError::InvalidCallback("missing_flow_cookie"))?;
    // Compared as digests (the `timing-resistant-secret-traits` feature), in constant time.
    if CsrfToken::new(state.to_owned()) != CsrfToken::new(flow.state.clone()) {
        return Err(SignInError::InvalidCallback("state_mismatch"));
    }
    if !flow.is_fresh(now) {
        return Err(SignInError::InvalidCallback("flow_expired"));
    }
    Ok(())
}

/// The answer of an attempt we started: from our issuer (RFC 9207 §2.4: an error answer
/// from elsewhere is no decline either), then a decline, or the code.
fn check_answer(
    params: &CallbackParams,
    issuer: &Issuer,
    iss_required: bool,
) -> Result<String, SignInError> {
    match params.iss.as_deref() {
        Some(iss) if iss != issuer.as_str() => {
            return Err(SignInError::InvalidCallback("iss_mismatch"));
        }
        None if iss_required => return Err(SignInError::InvalidCallback("missing_iss")),
        _ => {}
    }
    if let Some(error) = &params.error {
        return Err(SignInError::Declined(sanitize_error_code(error)));
    }
    params
        .code
        .clone()
        .ok_or(SignInError::InvalidCallback("missing_code"))
}

/// An OAuth error code is `[a-z_]`; anything else is not echoed even to the log.
pub(super) fn sanitize_error_code(code: &str) -> String {
    if code.len() <= 64 && code.bytes().all(|b| b.is_ascii_lowercase() || b == b'_') {
        code.to_owned()
    } else {
        "unrecognised_error".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::super::flow::FLOW_TTL_SECS;
    use super::*;

    fn flow(state: &str, created_at: u64) -> FlowState {
        FlowState {
            state: state.into(),
            nonce: "n".into(),
            pkce_verifier: "v".into(),
            return_to: "/".into(),
            created_at,
            provider: String::new(),
        }
    }

    fn params(q: &str) -> CallbackParams {
        parse_callback_query(Some(q)).expect("parses")
    }

    fn iss() -> Issuer {
        Issuer::parse("https://idp.example").expect("valid")
    }

    /// `check_callback` without the provider lookup; `iss_required` stands for what the
    /// provider's discovery document advertises.
    fn check(
        params: &CallbackParams,
        flow: Option<&FlowState>,
        now: u64,
        iss_required: bool,
    ) -> Result<String, SignInError> {
        check_attempt(params, flow, now)?;
        check_answer(params, &iss(), iss_required)
    }

    #[test]
    fn a_matching_state_yields_the_code() {
        let f = flow("s1", 100);
        assert_eq!(
            check(&params("code=c&state=s1"), Some(&f), 120, false),
            Ok("c".into())
        );
    }

    #[test]
    fn state_problems_are_400_before_anything_else() {
        let f = flow("s1", 100);
        assert_eq!(
            check(&params("code=c&state=s2"), Some(&f), 120, false),
            Err(SignInError::InvalidCallback("state_mismatch"))
        );
        assert_eq!(
            check(&params("code=c"), Some(&f), 120, false),
            Err(SignInError::InvalidCallback("missing_state"))
        );
        assert_eq!(
            check(&params("code=c&state=s1"), None, 120, false),
            Err(SignInError::InvalidCallback("missing_flow_cookie"))
        );
        assert_eq!(
            check(
                &params("code=c&state=s1"),
                Some(&f),
                100 + FLOW_TTL_SECS + 1,
                false
            ),
            Err(SignInError::InvalidCallback("flow_expired"))
        );
        // A provider error with a forged state is still a forged callback.
        assert_eq!(
            check(
                &params("error=access_denied&state=zz"),
                Some(&f),
                120,
                false
            ),
            Err(SignInError::InvalidCallback("state_mismatch"))
        );
    }

    #[test]
    fn a_provider_error_with_a_valid_state_is_a_decline() {
        let f = flow("s1", 100);
        assert_eq!(
            check(
                &params("error=access_denied&state=s1"),
                Some(&f),
                120,
                false
            ),
            Err(SignInError::Declined("access_denied".into()))
        );
        assert_eq!(
            check(&params("error=%3Cscript%3E&state=s1"), Some(&f), 120, false),
            Err(SignInError::Declined("unrecognised_error".into()))
        );
    }

    #[test]
    fn an_iss_parameter_must_name_our_issuer() {
        let f = flow("s1", 100);
        assert_eq!(
            check(
                &params("code=c&state=s1&iss=https%3A%2F%2Fevil"),
                Some(&f),
                120,
                false
            ),
            Err(SignInError::InvalidCallback("iss_mismatch"))
        );
        assert!(
            check(
                &params("code=c&state=s1&iss=https%3A%2F%2Fidp.example"),
                Some(&f),
                120,
                false
            )
            .is_ok()
        );
    }

    #[test]
    fn an_iss_parameter_is_required_when_the_provider_advertises_it() {
        let f = flow("s1", 100);
        assert_eq!(
            check(&params("code=c&state=s1"), Some(&f), 120, true),
            Err(SignInError::InvalidCallback("missing_iss"))
        );
        assert_eq!(
            check(
                &params("code=c&state=s1&iss=https%3A%2F%2Fevil"),
                Some(&f),
                120,
                true
            ),
            Err(SignInError::InvalidCallback("iss_mismatch"))
        );
        assert_eq!(
            check(
                &params("code=c&state=s1&iss=https%3A%2F%2Fidp.example"),
                Some(&f),
                120,
                true
            ),
            Ok("c".into())
        );
        assert_eq!(
            check(&params("code=c&state=s1"), Some(&f), 120, false),
            Ok("c".into()),
            "not advertised: not required"
        );
    }

    #[test]
    fn an_error_answer_from_another_issuer_or_without_a_required_iss_is_no_decline() {
        let f = flow("s1", 100);
        assert_eq!(
            check(&params("error=access_denied&state=s1"), Some(&f), 120, true),
            Err(SignInError::InvalidCallback("missing_iss"))
        );
        assert_eq!(
            check(
                &params("error=access_denied&state=s1&iss=https%3A%2F%2Fevil"),
                Some(&f),
                120,
                false
            ),
            Err(SignInError::InvalidCallback("iss_mismatch"))
        );
        assert_eq!(
            check(
                &params("error=access_denied&state=s1&iss=https%3A%2F%2Fidp.example"),
                Some(&f),
                120,
                true
            ),
            Err(SignInError::Declined("access_denied".into()))
        );
    }

    #[test]
    fn duplicate_callback_parameters_are_refused() {
        assert_eq!(
            parse_callback_query(Some("code=a&state=s&state=t")),
            Err(SignInError::InvalidCallback("duplicate_parameter"))
        );
    }

    #[test]
    fn callback_parameters_are_read() {
        let p = parse_callback_query(Some(
            "code=abc&state=xyz&iss=https%3A%2F%2Fidp&scope=openid",
        ))
        .expect("valid");
        assert_eq!(p.code.as_deref(), Some("abc"));
        assert_eq!(p.state.as_deref(), Some("xyz"));
        assert_eq!(p.iss.as_deref(), Some("https://idp"));
    }

    #[test]
    fn absurd_codes_are_refused() {
        let long = format!("code={}&state=s", "a".repeat(5000));
        assert!(parse_callback_query(Some(&long)).is_err());
        assert!(parse_callback_query(Some("code=a%00b&state=s")).is_err());
    }
}
