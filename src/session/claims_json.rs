//! A verified token's claims as JSON arrays for responses (roles, groups, serialised without
//! collecting them), and back in the shape doorman mints.

use serde::{Serialize, Serializer};

use super::claims::{Claims, SessionClaims};

impl Claims {
    /// The roles as a JSON array, for responses.
    pub fn roles_json(&self) -> RolesJson<'_> {
        RolesJson(self)
    }

    /// The groups as a JSON array, for responses.
    pub fn groups_json(&self) -> GroupsJson<'_> {
        GroupsJson(self)
    }
}

/// Serialises the groups as an array without collecting them.
pub struct GroupsJson<'a>(&'a Claims);

impl Serialize for GroupsJson<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.0.groups())
    }
}

/// Serialises the roles as an array without collecting them.
pub struct RolesJson<'a>(&'a Claims);

impl Serialize for RolesJson<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.0.roles())
    }
}

impl From<&Claims> for SessionClaims {
    fn from(c: &Claims) -> Self {
        Self {
            iss: c.iss().to_owned(),
            aud: c.aud().to_owned(),
            sub: c.sub().to_owned(),
            idp: c.idp().to_owned(),
            email: c.email().map(str::to_owned),
            email_verified: c.email_verified,
            name: c.name().map(str::to_owned),
            picture: c.picture().map(str::to_owned),
            uid: c.uid,
            roles: c.roles().map(str::to_owned).collect(),
            // The groups the token carries (none when it names them by digest).
            groups: match c.groups_ref() {
                Some(_) => Vec::new(),
                None => c.groups().map(str::to_owned).collect(),
            },
            gref: c.groups_ref().map(str::to_owned),
            iat: c.iat,
            exp: c.exp,
            nbf: c.nbf,
            auth_time: c.auth_time,
            jti: c.jti().to_owned(),
            sid: c.sid().map(str::to_owned),
        }
    }
}
