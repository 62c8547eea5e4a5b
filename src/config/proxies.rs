//! `TRUSTED_PROXIES`: the reverse proxies whose forwarding headers doorman believes. Everybody
//! else's `X-Forwarded-For` is ignored, so a client cannot choose the address it is throttled by.

use std::net::IpAddr;

use ipnet::IpNet;

use super::vars::ConfigError;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    /// CIDRs (`10.0.0.0/8`, `::1/128`) or single addresses (`127.0.0.1`), comma-separated.
    pub fn parse(items: &[String]) -> Result<Self, ConfigError> {
        let mut nets = Vec::with_capacity(items.len());
        for item in items {
            let net = item
                .parse::<IpNet>()
                .or_else(|_| item.parse::<IpAddr>().map(IpNet::from))
                .map_err(|_| {
                    ConfigError::new(
                        "TRUSTED_PROXIES",
                        format!(
                            "`{item}` is not an address or CIDR, e.g. 127.0.0.1/32 or 10.0.0.0/8"
                        ),
                    )
                })?;
            nets.push(net);
        }
        Ok(Self(nets))
    }

    pub fn none() -> Self {
        Self(Vec::new())
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        self.0.iter().any(|net| net.contains(&ip))
    }
}

/// An IPv4 address arriving as IPv4-mapped IPv6 (`::ffff:1.2.3.4`) is that IPv4 address.
pub fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn cidrs_and_single_addresses_are_accepted() {
        let proxies =
            TrustedProxies::parse(&list(&["127.0.0.1", "10.0.0.0/8", "::1/128"])).expect("valid");
        assert!(proxies.contains("127.0.0.1".parse().expect("ip")));
        assert!(proxies.contains("10.1.2.3".parse().expect("ip")));
        assert!(proxies.contains("::ffff:10.1.2.3".parse().expect("ip")));
        assert!(!proxies.contains("192.168.1.1".parse().expect("ip")));
        assert!(TrustedProxies::parse(&list(&["nonsense"])).is_err());
    }
}
