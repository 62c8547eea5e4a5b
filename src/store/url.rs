//! `DATABASE_URL`: which backend it names, and how to show it without its password.

/// `url` with its password masked (in the user part or a `password=` parameter), for
/// messages and logs.
pub fn redacted(url: &str) -> String {
    if !is_postgres_url(url) {
        return url.to_owned();
    }
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let authority = match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _)) => format!("{user}:********@{host}"),
            None => authority.to_owned(),
        },
        None => authority.to_owned(),
    };
    let tail = match tail.split_once('?') {
        Some((path, query)) => {
            let query: Vec<String> = query
                .split('&')
                .map(|pair| {
                    if pair.starts_with("password=") {
                        "password=********".to_owned()
                    } else {
                        pair.to_owned()
                    }
                })
                .collect();
            format!("{path}?{}", query.join("&"))
        }
        None => tail.to_owned(),
    };
    format!("{scheme}://{authority}{tail}")
}

pub use crate::config::is_postgres_url;
