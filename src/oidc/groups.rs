//! The provider's groups for the person signing in: `OIDC_GROUPS_CLAIM` (a claim name or a
//! JSON pointer) read from the verified ID token, else from UserInfo's answer. An array of
//! strings or one string; other members are skipped and counted. Bounded: more than
//! `MAX_GROUPS`, or one longer than `MAX_GROUP_BYTES`, fails the sign-in with a clear page,
//! never a silent truncation.

use serde_json::{Map, Value};

use super::SignInError;
use crate::config::ClaimPath;

/// Groups one person may have.
pub(super) const MAX_GROUPS: usize = 500;
/// Bytes one group name may take.
pub(super) const MAX_GROUP_BYTES: usize = 256;

/// The groups a claim set names.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct Found {
    pub groups: Vec<String>,
    /// Members that were not strings (numbers, objects, …), left out.
    pub skipped: usize,
}

/// The groups at `path` in `claims`: `None` when the claim is absent (or `null`), an error
/// when there are too many or one is too long.
pub(super) fn read(
    claims: &Map<String, Value>,
    path: &ClaimPath,
) -> Result<Option<Found>, SignInError> {
    let mut tokens = path.tokens();
    let Some(first) = tokens.next() else {
        return Ok(None);
    };
    let mut value = claims.get(first);
    for token in tokens {
        value = match value {
            Some(Value::Object(object)) => object.get(token),
            Some(Value::Array(array)) => token.parse::<usize>().ok().and_then(|i| array.get(i)),
            _ => None,
        };
    }
    let mut found = Found::default();
    match value {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::String(one)) => found.groups.push(one.clone()),
        Some(Value::Array(members)) => {
            for member in members {
                match member {
                    Value::String(group) => found.groups.push(group.clone()),
                    _ => found.skipped += 1,
                }
            }
        }
        Some(_) => found.skipped += 1,
    }
    if found.groups.len() > MAX_GROUPS {
        return Err(SignInError::TooManyGroups(format!(
            "the claim {path} names {} groups (at most {MAX_GROUPS})",
            found.groups.len()
        )));
    }
    if let Some(long) = found.groups.iter().find(|g| g.len() > MAX_GROUP_BYTES) {
        return Err(SignInError::TooManyGroups(format!(
            "the claim {path} has a group of {} bytes (at most {MAX_GROUP_BYTES})",
            long.len()
        )));
    }
    // The same group twice is one group.
    let mut seen = std::collections::HashSet::new();
    found.groups.retain(|g| seen.insert(g.clone()));
    Ok(Some(found))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn claims(value: Value) -> Map<String, Value> {
        value.as_object().cloned().expect("object")
    }

    fn path(raw: &str) -> ClaimPath {
        ClaimPath::parse(raw).expect("path")
    }

    #[test]
    fn groups_are_read_by_name_by_pointer_and_from_one_string() {
        let c = claims(json!({
            "groups": ["sre", "platform"],
            "realm_access": {"roles": ["offline_access", "admin"]},
            "https://example.com/groups": "editors",
        }));
        let read_at = |p: &str| read(&c, &path(p)).expect("ok").map(|f| f.groups);
        assert_eq!(
            read_at("groups"),
            Some(vec!["sre".into(), "platform".into()])
        );
        assert_eq!(
            read_at("/realm_access/roles"),
            Some(vec!["offline_access".into(), "admin".into()])
        );
        assert_eq!(
            read_at("/https:~1~1example.com~1groups"),
            Some(vec!["editors".into()])
        );
        assert_eq!(read_at("/realm_access/nothing"), None);
        assert_eq!(read_at("roles"), None);
    }

    #[test]
    fn members_that_are_not_strings_are_skipped_and_counted() {
        let c = claims(json!({"groups": ["a", 7, {"name": "b"}, null, "a", "c"]}));
        let found = read(&c, &path("groups")).expect("ok").expect("present");
        assert_eq!(found.groups, ["a", "c"]);
        assert_eq!(found.skipped, 3);
        let c = claims(json!({"groups": 42}));
        let found = read(&c, &path("groups")).expect("ok").expect("present");
        assert!(found.groups.is_empty());
        assert_eq!(found.skipped, 1);
    }

    #[test]
    fn too_many_or_too_long_is_an_error_naming_the_claim_and_the_count() {
        let many: Vec<String> = (0..=MAX_GROUPS).map(|i| format!("g{i}")).collect();
        let err = read(&claims(json!({ "groups": many })), &path("groups")).expect_err("many");
        assert_eq!(
            err,
            SignInError::TooManyGroups("the claim groups names 501 groups (at most 500)".into())
        );
        let exactly: Vec<String> = (0..MAX_GROUPS).map(|i| format!("{i:0>256}")).collect();
        assert_eq!(
            read(&claims(json!({ "groups": exactly })), &path("groups"))
                .expect("500 of 256 bytes are allowed")
                .map(|f| f.groups.len()),
            Some(MAX_GROUPS)
        );
        let long = "x".repeat(MAX_GROUP_BYTES + 1);
        let err = read(&claims(json!({ "groups": [long] })), &path("groups")).expect_err("long");
        assert!(err.to_string().contains("257 bytes"), "{err}");
    }
}
