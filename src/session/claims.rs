//! The two shapes of a session token's claims: `SessionClaims`, what doorman mints (plain
//! owned fields, serialised into the token), and `Claims`, what a verified token carries, kept
//! compact: every string lives in one buffer, shared by every copy (no allocation per request),
//! read through accessors. Parsed once, borrowing from the decoded payload wherever
//! the JSON has no escapes.

use std::borrow::Cow;
use std::sync::{Arc, OnceLock};

use axum::body::Bytes;

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize};

/// The claims doorman puts in its session token; also what `/api/user` shows.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionClaims {
    /// doorman's `PUBLIC_URL`.
    pub iss: String,
    /// doorman's `PUBLIC_URL`: the token is for doorman and the services behind it.
    pub aud: String,
    /// The provider's subject identifier; unique together with `idp`.
    pub sub: String,
    /// The identity provider's issuer.
    pub idp: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default)]
    pub email_verified: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub picture: Option<String>,
    /// doorman's user id (accounts store).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<i64>,
    #[serde(default)]
    pub roles: Vec<String>,
    /// The provider's groups, when they fit the token (`groups::fit_in_token`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<String>,
    /// When they do not: their digest (`groups::digest`); the list is kept with the session.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gref: Option<String>,
    pub iat: u64,
    pub exp: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<u64>,
    /// When the session began (its sign-in): renewals stop `SESSION_MAX_HOURS` after it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_time: Option<u64>,
    pub jti: String,
    /// The session this token belongs to: every token of one sign-in (and, for API clients,
    /// its refresh tokens) shares it, and revoking it ends them all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
}

impl SessionClaims {
    /// What a revocation of a token with these claims is recorded under: its session, or
    /// (for a token minted without one) the token itself.
    pub fn revocation_id(&self) -> &str {
        self.sid.as_deref().unwrap_or(&self.jti)
    }
}

/// `start..end` in `Claims::strings`.
type Span = (u32, u32);

/// A verified token's claims. Built only by `SessionTokens::verify`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Claims {
    /// Shared, so that the memo's copy of a session's claims costs no allocation.
    strings: Arc<Strings>,
    iss: Span,
    aud: Span,
    sub: Span,
    idp: Span,
    email: Option<Span>,
    name: Option<Span>,
    picture: Option<Span>,
    jti: Span,
    sid: Option<Span>,
    /// The roles, comma-joined (role names never contain a comma).
    roles: Span,
    /// The digest of the session's groups, when the token does not carry them.
    gref: Option<Span>,
    pub email_verified: bool,
    pub uid: Option<i64>,
    pub iat: u64,
    pub exp: u64,
    pub nbf: Option<u64>,
    pub auth_time: Option<u64>,
}

/// The claims' strings, and what was rendered from them alone (the `/api/user` body): the
/// memo's copy of a session's claims carries it to the session's next request.
#[derive(Debug)]
struct Strings {
    text: Box<str>,
    /// The groups the token carries, in `text`.
    groups: Box<[Span]>,
    /// The groups named by `gref`, once `Sessions::resolve_groups` found them.
    resolved: OnceLock<Arc<[String]>>,
    rendered: OnceLock<Option<Bytes>>,
}

impl PartialEq for Strings {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}

impl Eq for Strings {}

/// A JSON string, borrowed from the payload when it has no escapes.
struct Text<'a>(Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for Text<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TextVisitor;
        impl<'de> Visitor<'de> for TextVisitor {
            type Value = Text<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Text(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Text(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(Text(Cow::Owned(v)))
            }
        }
        deserializer.deserialize_str(TextVisitor)
    }
}

/// The payload as JSON has it: the same fields, names and requirements as `SessionClaims`.
#[derive(Deserialize)]
struct Raw<'a> {
    #[serde(borrow)]
    iss: Text<'a>,
    #[serde(borrow)]
    aud: Text<'a>,
    #[serde(borrow)]
    sub: Text<'a>,
    #[serde(borrow)]
    idp: Text<'a>,
    #[serde(default, borrow)]
    email: Option<Text<'a>>,
    #[serde(default)]
    email_verified: bool,
    #[serde(default, borrow)]
    name: Option<Text<'a>>,
    #[serde(default, borrow)]
    picture: Option<Text<'a>>,
    #[serde(default)]
    uid: Option<i64>,
    #[serde(default, borrow)]
    roles: Vec<Text<'a>>,
    #[serde(default, borrow)]
    groups: Vec<Text<'a>>,
    #[serde(default, borrow)]
    gref: Option<Text<'a>>,
    iat: u64,
    exp: u64,
    #[serde(default)]
    nbf: Option<u64>,
    #[serde(default)]
    auth_time: Option<u64>,
    #[serde(borrow)]
    jti: Text<'a>,
    #[serde(default, borrow)]
    sid: Option<Text<'a>>,
}

/// Copies strings into one buffer, handing back where each went.
struct Packer(String);

impl Packer {
    fn put(&mut self, s: &str) -> Span {
        let start = self.0.len() as u32;
        self.0.push_str(s);
        (start, self.0.len() as u32)
    }
}

impl Claims {
    /// Parses a (verified) payload; `None` if it is not our claims.
    pub(super) fn parse(payload: &[u8]) -> Option<Self> {
        let raw: Raw<'_> = serde_json::from_slice(payload).ok()?;
        if raw.roles.iter().any(|r| r.0.contains(',')) {
            return None;
        }
        let mut p = Packer(String::with_capacity(payload.len()));
        let iss = p.put(&raw.iss.0);
        let aud = p.put(&raw.aud.0);
        let sub = p.put(&raw.sub.0);
        let idp = p.put(&raw.idp.0);
        let email = raw.email.as_ref().map(|t| p.put(&t.0));
        let name = raw.name.as_ref().map(|t| p.put(&t.0));
        let picture = raw.picture.as_ref().map(|t| p.put(&t.0));
        let jti = p.put(&raw.jti.0);
        let sid = raw.sid.as_ref().map(|t| p.put(&t.0));
        let roles_start = p.0.len() as u32;
        for (i, role) in raw.roles.iter().enumerate() {
            if i > 0 {
                p.0.push(',');
            }
            p.0.push_str(&role.0);
        }
        let roles = (roles_start, p.0.len() as u32);
        let gref = raw.gref.as_ref().map(|t| p.put(&t.0));
        let groups: Box<[Span]> = raw.groups.iter().map(|g| p.put(&g.0)).collect();
        Some(Self {
            strings: Arc::new(Strings {
                text: p.0.into(),
                groups,
                resolved: OnceLock::new(),
                rendered: OnceLock::new(),
            }),
            iss,
            aud,
            sub,
            idp,
            email,
            name,
            picture,
            jti,
            sid,
            roles,
            gref,
            email_verified: raw.email_verified,
            uid: raw.uid,
            iat: raw.iat,
            exp: raw.exp,
            nbf: raw.nbf,
            auth_time: raw.auth_time,
        })
    }

    fn get(&self, (start, end): Span) -> &str {
        self.strings
            .text
            .get(start as usize..end as usize)
            .unwrap_or("")
    }

    /// What `render` makes of these claims, rendered once per verified token on each thread
    /// and kept with the claims (the memo's copy serves the session's next request). For one
    /// rendering only, a function of the claims alone: the `/api/user` body.
    /// `None` when `render` failed (and it would again: it sees nothing else).
    pub fn rendered(&self, render: impl FnOnce(&Self) -> Option<Bytes>) -> Option<Bytes> {
        self.strings.rendered.get_or_init(|| render(self)).clone()
    }

    /// doorman's `PUBLIC_URL`.
    pub fn iss(&self) -> &str {
        self.get(self.iss)
    }
    pub fn aud(&self) -> &str {
        self.get(self.aud)
    }
    /// The subject at `idp`.
    pub fn sub(&self) -> &str {
        self.get(self.sub)
    }
    /// Who vouches for the person: the provider's issuer, or doorman's for local accounts.
    pub fn idp(&self) -> &str {
        self.get(self.idp)
    }
    pub fn email(&self) -> Option<&str> {
        self.email.map(|s| self.get(s))
    }
    pub fn name(&self) -> Option<&str> {
        self.name.map(|s| self.get(s))
    }
    pub fn picture(&self) -> Option<&str> {
        self.picture.map(|s| self.get(s))
    }
    pub fn jti(&self) -> &str {
        self.get(self.jti)
    }
    /// The session this token belongs to.
    pub fn sid(&self) -> Option<&str> {
        self.sid.map(|s| self.get(s))
    }
    pub fn roles(&self) -> impl Iterator<Item = &str> {
        let all = self.get(self.roles);
        all.split(',').filter(|r| !r.is_empty())
    }
    /// The roles on one line, comma-joined (`admin,ops`), as identity headers carry them.
    pub fn roles_line(&self) -> &str {
        self.get(self.roles)
    }
    pub fn has_role(&self, role: &str) -> bool {
        self.roles().any(|r| r == role)
    }

    /// What a revocation of this token is recorded under: its session, or (for a token
    /// minted without one) the token itself.
    pub fn revocation_id(&self) -> &str {
        self.sid().unwrap_or_else(|| self.jti())
    }

    /// The provider's groups: those the token carries, or, for a token that names them by
    /// digest, the list `Sessions::resolve_groups` found (nothing before that).
    pub fn groups(&self) -> impl Iterator<Item = &str> + Clone {
        let carried = self.strings.groups.iter().map(|s| self.get(*s));
        let resolved = self.strings.resolved.get().map_or(&[][..], |l| &l[..]);
        carried.chain(resolved.iter().map(String::as_str))
    }

    pub fn in_group(&self, group: &str) -> bool {
        self.groups().any(|g| g == group)
    }

    /// The digest naming the session's groups, when the token does not carry them.
    pub fn groups_ref(&self) -> Option<&str> {
        self.gref.map(|s| self.get(s))
    }

    pub fn groups_resolved(&self) -> bool {
        self.strings.resolved.get().is_some()
    }

    /// Records the list `groups_ref` names (checked by the caller); shared by every copy.
    pub(super) fn resolve_groups(&self, groups: Arc<[String]>) {
        let _ = self.strings.resolved.set(groups);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rendering_is_made_once_shared_by_copies_and_never_by_other_claims() {
        let ada = Claims::parse(
            br#"{"iss":"i","aud":"a","sub":"ada","idp":"p","iat":1,"exp":2,"jti":"j1"}"#,
        )
        .expect("claims");
        let grace = Claims::parse(
            br#"{"iss":"i","aud":"a","sub":"grace","idp":"p","iat":1,"exp":2,"jti":"j2"}"#,
        )
        .expect("claims");
        let calls = std::cell::Cell::new(0);
        let render = |c: &Claims| {
            calls.set(calls.get() + 1);
            Some(Bytes::copy_from_slice(c.sub().as_bytes()))
        };
        let copy = ada.clone();
        assert_eq!(ada.rendered(render).as_deref(), Some(&b"ada"[..]));
        assert_eq!(copy.rendered(render).as_deref(), Some(&b"ada"[..]));
        assert_eq!(calls.get(), 1, "the copy shares the first rendering");
        assert_eq!(grace.rendered(render).as_deref(), Some(&b"grace"[..]));
        assert_eq!(calls.get(), 2);
    }

    #[test]
    fn every_claim_reads_back_including_escaped_strings() {
        let payload = br#"{"iss":"http://a","aud":"http://a","sub":"s-1","idp":"https://idp",
            "email":"a@example.com","email_verified":true,"name":"Ada \"the\" L\u00f8velace",
            "uid":7,"roles":["admin","editor"],"iat":1,"exp":2,"jti":"j","sid":"s"}"#;
        let c = Claims::parse(payload).expect("claims");
        assert_eq!(c.iss(), "http://a");
        assert_eq!(c.sub(), "s-1");
        assert_eq!(c.name(), Some("Ada \"the\" Løvelace"));
        assert_eq!(c.roles().collect::<Vec<_>>(), ["admin", "editor"]);
        assert!(c.has_role("admin") && !c.has_role("adm"));
        assert_eq!(c.revocation_id(), "s");
        assert_eq!(c.picture(), None);
        assert_eq!(
            serde_json::to_string(&c.roles_json()).expect("json"),
            r#"["admin","editor"]"#
        );
    }

    #[test]
    fn groups_read_back_whole_or_once_resolved_and_copies_share_the_resolution() {
        let base = r#""iss":"i","aud":"i","sub":"s","idp":"p","iat":1,"exp":2,"jti":"j""#;
        let carried = Claims::parse(
            format!(r#"{{{base},"groups":["sre","Platform, Admins","\u00e9quipe"]}}"#).as_bytes(),
        )
        .expect("claims");
        assert_eq!(
            carried.groups().collect::<Vec<_>>(),
            ["sre", "Platform, Admins", "équipe"]
        );
        assert!(carried.in_group("Platform, Admins") && !carried.in_group("Platform"));
        assert_eq!(carried.groups_ref(), None);
        let by_digest = Claims::parse(format!(r#"{{{base},"sid":"s1","gref":"abc"}}"#).as_bytes())
            .expect("claims");
        let copy = by_digest.clone();
        assert_eq!(by_digest.groups_ref(), Some("abc"));
        assert_eq!(
            by_digest.groups().count(),
            0,
            "nothing before it is resolved"
        );
        by_digest.resolve_groups(vec!["a".to_owned(), "b".into()].into());
        assert!(copy.groups_resolved());
        assert_eq!(copy.groups().collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(
            serde_json::to_string(&copy.groups_json()).expect("json"),
            r#"["a","b"]"#
        );
    }

    #[test]
    fn no_roles_is_an_empty_list_and_a_comma_in_a_role_is_refused() {
        let base = r#""iss":"i","aud":"i","sub":"s","idp":"p","iat":1,"exp":2,"jti":"j""#;
        let c = Claims::parse(format!("{{{base}}}").as_bytes()).expect("claims");
        assert_eq!(c.roles().count(), 0);
        assert_eq!(c.revocation_id(), "j");
        assert!(Claims::parse(format!(r#"{{{base},"roles":["a,b"]}}"#).as_bytes()).is_none());
    }
}
