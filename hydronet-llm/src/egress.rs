//! Outbound address checks: which hosts a server may connect to on a tenant's behalf.
//!
//! A URL typed in by a tenant (an MCP server, a webhook) must not become a way into the
//! operator's own network. [`EgressPolicy`] accepts only `http` and `https` URLs without
//! credentials, resolves the host once, checks **every** address it resolves to, and hands
//! back one address to pin the connection to, so that a second DNS answer cannot swap in
//! another host (DNS rebinding).
//!
//! By default only public unicast addresses pass. Refused, unless the operator allows a
//! range with [`EgressPolicy::allow`]:
//!
//! - IPv4: `0.0.0.0/8`, `10.0.0.0/8`, `100.64.0.0/10` (CGNAT), `127.0.0.0/8`,
//!   `169.254.0.0/16` (link-local, cloud metadata), `172.16.0.0/12`, `192.0.0.0/24`,
//!   `192.0.2.0/24`, `192.88.99.0/24` (6to4 relays), `192.168.0.0/16`, `198.18.0.0/15`,
//!   `198.51.100.0/24`, `203.0.113.0/24`, `224.0.0.0/4`, `240.0.0.0/4` (with the broadcast
//!   address);
//! - IPv6: `::`, `::1`, `100::/64` (discard), `2001:db8::/32`, `2001::/32` (Teredo),
//!   `fc00::/7`, `fe80::/10`, `fec0::/10`, `ff00::/8`;
//! - IPv6 forms that carry an IPv4 address are judged by that address: IPv4-mapped
//!   (`::ffff:0:0/96`), IPv4-compatible (`::/96`), NAT64 (`64:ff9b::/96`) and 6to4
//!   (`2002::/16`).
//!
//! Host spellings such as `http://2130706433/` or `http://0x7f.1/` are normalised by the
//! URL parser to the address they mean, and the check runs on what is actually resolved.
//!
//! # Example
//!
//! ```
//! use std::net::IpAddr;
//!
//! use hydronet_llm::egress::{EgressError, EgressPolicy};
//!
//! let policy = EgressPolicy::public_only();
//! assert!(policy.check_ip("93.184.216.34".parse().unwrap()).is_ok());
//!
//! let metadata: IpAddr = "169.254.169.254".parse().unwrap();
//! assert!(matches!(policy.check_ip(metadata), Err(EgressError::Forbidden(_))));
//!
//! // The operator may open a range of their own network on purpose.
//! let policy = EgressPolicy::from_allow_list("10.20.0.0/16, 127.0.0.1/32").unwrap();
//! assert!(policy.check_ip("10.20.3.4".parse().unwrap()).is_ok());
//! assert!(policy.check_ip("10.21.0.1".parse().unwrap()).is_err());
//! ```

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use reqwest::Url;

/// Why an outbound URL or address was refused.
#[derive(Debug, thiserror::Error)]
pub enum EgressError {
    /// The scheme is neither `http` nor `https`.
    #[error("only http and https URLs are allowed")]
    Scheme,
    /// The URL cannot be parsed, has no host, or carries credentials.
    #[error("invalid URL: {0}")]
    InvalidUrl(String),
    /// The host name did not resolve.
    #[error("cannot resolve the host: {0}")]
    Resolve(String),
    /// The host is, or resolves to, an address the policy refuses.
    #[error("the address {0} is not allowed")]
    Forbidden(IpAddr),
    /// An allowed range is not a valid CIDR.
    #[error("invalid address range: {0}")]
    InvalidRange(String),
}

/// Which addresses outbound connections may reach.
///
/// Default ([`EgressPolicy::public_only`]): public unicast only.
#[derive(Debug, Clone, Default)]
pub struct EgressPolicy {
    allowed: Vec<Cidr>,
}

impl EgressPolicy {
    /// Public unicast addresses only.
    pub fn public_only() -> Self {
        Self::default()
    }

    /// Also allows a CIDR range, e.g. `"10.20.0.0/16"` or `"127.0.0.1/32"`; a bare address
    /// means that one address. Bits beyond the prefix are ignored.
    ///
    /// ```
    /// use hydronet_llm::egress::EgressPolicy;
    ///
    /// let policy = EgressPolicy::public_only().allow("127.0.0.1/32").unwrap();
    /// assert!(policy.check_ip("127.0.0.1".parse().unwrap()).is_ok());
    /// assert!(policy.check_ip("127.0.0.2".parse().unwrap()).is_err());
    /// assert!(EgressPolicy::public_only().allow("10.0.0.0/33").is_err());
    /// ```
    pub fn allow(mut self, cidr: &str) -> Result<Self, EgressError> {
        self.allowed.push(Cidr::parse(cidr)?);
        Ok(self)
    }

    /// Parses a comma-separated list of CIDRs (for an environment variable); an empty
    /// list means public only.
    pub fn from_allow_list(list: &str) -> Result<Self, EgressError> {
        list.split(',')
            .map(str::trim)
            .filter(|item| !item.is_empty())
            .try_fold(Self::public_only(), Self::allow)
    }

    /// Accepts `ip` if an allowed range holds it, else if it is public unicast.
    ///
    /// An IPv4-mapped IPv6 address is judged as the IPv4 address it stands for.
    pub fn check_ip(&self, ip: IpAddr) -> Result<(), EgressError> {
        let effective = ip.to_canonical();
        if self.allowed.iter().any(|range| range.contains(effective)) {
            return Ok(());
        }
        if is_forbidden(effective) {
            return Err(EgressError::Forbidden(ip));
        }
        Ok(())
    }

    /// Checks the URL (http or https, no userinfo), resolves its host, checks every
    /// resolved address, and returns the parsed URL with the address to pin.
    ///
    /// ```
    /// use hydronet_llm::egress::{EgressError, EgressPolicy};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let policy = EgressPolicy::public_only();
    /// let refused = policy.resolve("http://0x7f000001:8080/mcp").await;
    /// assert!(matches!(refused, Err(EgressError::Forbidden(ip)) if ip.is_loopback()));
    /// assert!(matches!(policy.resolve("ftp://example.com/").await, Err(EgressError::Scheme)));
    /// # }
    /// ```
    pub async fn resolve(&self, url: &str) -> Result<(Url, SocketAddr), EgressError> {
        let url = parse_url(url)?;
        let port = url
            .port_or_known_default()
            .ok_or_else(|| EgressError::InvalidUrl("no port".to_owned()))?;

        let addresses = match host_address(&url)? {
            Ok(ip) => vec![SocketAddr::new(ip, port)],
            Err(name) => lookup(&name, port).await?,
        };

        for address in &addresses {
            self.check_ip(address.ip())?;
        }
        let pinned = addresses
            .first()
            .copied()
            .ok_or_else(|| EgressError::Resolve("no address".to_owned()))?;
        Ok((url, pinned))
    }
}

/// Parses `raw` and refuses other schemes and embedded credentials.
fn parse_url(raw: &str) -> Result<Url, EgressError> {
    let url = Url::parse(raw).map_err(|err| EgressError::InvalidUrl(err.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(EgressError::Scheme);
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(EgressError::InvalidUrl("credentials in the URL".to_owned()));
    }
    Ok(url)
}

/// Every address `name` resolves to.
async fn lookup(name: &str, port: u16) -> Result<Vec<SocketAddr>, EgressError> {
    let found = tokio::net::lookup_host((name, port))
        .await
        .map_err(|err| EgressError::Resolve(format!("{name}: {err}")))?;
    let addresses: Vec<SocketAddr> = found.collect();
    if addresses.is_empty() {
        return Err(EgressError::Resolve(format!("{name}: no address")));
    }
    Ok(addresses)
}

/// The host of a parsed URL: an address, or a name to resolve.
///
/// The URL parser has already turned every IPv4 spelling (decimal, octal, hex, short
/// forms) into dotted form, so an address host always parses here.
fn host_address(url: &Url) -> Result<Result<IpAddr, String>, EgressError> {
    let host = url
        .host_str()
        .filter(|host| !host.is_empty())
        .ok_or_else(|| EgressError::InvalidUrl("no host".to_owned()))?;
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    Ok(bare.parse::<IpAddr>().map_err(|_| host.to_owned()))
}

/// An address range, `address/prefix`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Cidr {
    network: IpAddr,
    prefix: u8,
}

impl Cidr {
    fn parse(text: &str) -> Result<Self, EgressError> {
        let invalid = || EgressError::InvalidRange(text.to_owned());
        let text = text.trim();
        let (address, prefix) = match text.split_once('/') {
            Some((address, prefix)) => (address, Some(prefix)),
            None => (text, None),
        };
        let network: IpAddr = address.parse().map_err(|_| invalid())?;
        let max = if network.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(prefix) => prefix.parse::<u8>().map_err(|_| invalid())?,
            None => max,
        };
        if prefix > max {
            return Err(invalid());
        }

        // An IPv4-mapped range written in IPv6 form is kept as the IPv4 range it covers,
        // since addresses are compared in canonical form.
        match network.to_canonical() {
            IpAddr::V4(v4) if network.is_ipv6() && prefix >= 96 => Ok(Self {
                network: IpAddr::V4(v4),
                prefix: prefix - 96,
            }),
            _ => Ok(Self { network, prefix }),
        }
    }

    fn contains(&self, ip: IpAddr) -> bool {
        match (self.network, ip) {
            (IpAddr::V4(network), IpAddr::V4(ip)) => in_v4(ip, u32::from(network), self.prefix),
            (IpAddr::V6(network), IpAddr::V6(ip)) => in_v6(ip, u128::from(network), self.prefix),
            _ => false,
        }
    }
}

fn in_v4(ip: Ipv4Addr, network: u32, prefix: u8) -> bool {
    let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
    u32::from(ip) & mask == network & mask
}

fn in_v6(ip: Ipv6Addr, network: u128, prefix: u8) -> bool {
    let mask = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
    u128::from(ip) & mask == network & mask
}

/// IPv4 ranges that are never public unicast.
const FORBIDDEN_V4: &[(u32, u8)] = &[
    (0x0000_0000, 8),  // 0.0.0.0/8 "this network"
    (0x0a00_0000, 8),  // 10.0.0.0/8
    (0x6440_0000, 10), // 100.64.0.0/10 CGNAT
    (0x7f00_0000, 8),  // 127.0.0.0/8 loopback
    (0xa9fe_0000, 16), // 169.254.0.0/16 link-local, cloud metadata
    (0xac10_0000, 12), // 172.16.0.0/12
    (0xc000_0000, 24), // 192.0.0.0/24 protocol assignments
    (0xc000_0200, 24), // 192.0.2.0/24 TEST-NET-1
    (0xc058_6300, 24), // 192.88.99.0/24 6to4 relay anycast
    (0xc0a8_0000, 16), // 192.168.0.0/16
    (0xc612_0000, 15), // 198.18.0.0/15 benchmarking
    (0xc633_6400, 24), // 198.51.100.0/24 TEST-NET-2
    (0xcb00_7100, 24), // 203.0.113.0/24 TEST-NET-3
    (0xe000_0000, 4),  // 224.0.0.0/4 multicast
    (0xf000_0000, 4),  // 240.0.0.0/4 reserved, with 255.255.255.255
];

/// IPv6 ranges that are never public unicast (forms embedding IPv4 are handled apart).
const FORBIDDEN_V6: &[(u128, u8)] = &[
    (0, 128),                                        // :: unspecified
    (1, 128),                                        // ::1 loopback
    (0x0100_0000_0000_0000 << 64, 64),               // 100::/64 discard
    (0x2001_0000_0000_0000_0000_0000_0000_0000, 32), // 2001::/32 Teredo
    (0x2001_0db8_0000_0000_0000_0000_0000_0000, 32), // 2001:db8::/32 documentation
    (0xfc00_0000_0000_0000_0000_0000_0000_0000, 7),  // fc00::/7 unique local
    (0xfe80_0000_0000_0000_0000_0000_0000_0000, 10), // fe80::/10 link-local
    (0xfec0_0000_0000_0000_0000_0000_0000_0000, 10), // fec0::/10 site-local (deprecated)
    (0xff00_0000_0000_0000_0000_0000_0000_0000, 8),  // ff00::/8 multicast
];

fn is_forbidden(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(ip) => is_forbidden_v4(ip),
        IpAddr::V6(ip) => is_forbidden_v6(ip),
    }
}

fn is_forbidden_v4(ip: Ipv4Addr) -> bool {
    FORBIDDEN_V4
        .iter()
        .any(|&(network, prefix)| in_v4(ip, network, prefix))
}

fn is_forbidden_v6(ip: Ipv6Addr) -> bool {
    if FORBIDDEN_V6
        .iter()
        .any(|&(network, prefix)| in_v6(ip, network, prefix))
    {
        return true;
    }
    match embedded_v4(ip) {
        Some(v4) => is_forbidden_v4(v4),
        None => false,
    }
}

/// The IPv4 address an IPv6 address carries: IPv4-mapped, IPv4-compatible, NAT64, 6to4.
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let bits = u128::from(ip);
    let low32 = Ipv4Addr::from((bits & 0xffff_ffff) as u32);
    let mapped = 0xffff_u128 << 32;
    let nat64 = 0x0064_ff9b_u128 << 96;
    if in_v6(ip, mapped, 96) || in_v6(ip, 0, 96) || in_v6(ip, nat64, 96) {
        return Some(low32);
    }
    if in_v6(ip, 0x2002_u128 << 112, 16) {
        return Some(Ipv4Addr::from(((bits >> 80) & 0xffff_ffff) as u32));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn forbidden(policy: &EgressPolicy, ip: &str) -> bool {
        let ip: IpAddr = ip.parse().unwrap();
        matches!(policy.check_ip(ip), Err(EgressError::Forbidden(refused)) if refused == ip)
    }

    #[test]
    fn every_listed_ipv4_range_is_refused_at_both_ends() {
        let policy = EgressPolicy::public_only();
        for ip in [
            "0.0.0.0",
            "0.255.255.255",
            "10.0.0.0",
            "10.255.255.255",
            "100.64.0.0",
            "100.127.255.255",
            "127.0.0.1",
            "127.255.255.254",
            "169.254.0.1",
            "169.254.169.254",
            "172.16.0.0",
            "172.31.255.255",
            "192.0.0.8",
            "192.0.2.1",
            "192.88.99.1",
            "192.168.0.1",
            "192.168.255.255",
            "198.18.0.1",
            "198.19.255.255",
            "198.51.100.7",
            "203.0.113.9",
            "224.0.0.1",
            "239.255.255.255",
            "240.0.0.1",
            "255.255.255.255",
        ] {
            assert!(forbidden(&policy, ip), "{ip} should be refused");
        }
    }

    #[test]
    fn public_ipv4_neighbours_of_the_ranges_pass() {
        let policy = EgressPolicy::public_only();
        for ip in [
            "1.1.1.1",
            "9.255.255.255",
            "11.0.0.0",
            "100.63.255.255",
            "100.128.0.0",
            "169.253.255.255",
            "172.15.255.255",
            "172.32.0.0",
            "192.0.1.1",
            "198.17.255.255",
            "198.20.0.0",
            "223.255.255.255",
        ] {
            assert!(
                policy.check_ip(ip.parse().unwrap()).is_ok(),
                "{ip} should pass"
            );
        }
    }

    #[test]
    fn every_listed_ipv6_range_is_refused() {
        let policy = EgressPolicy::public_only();
        for ip in [
            "::",
            "::1",
            "100::1",
            "2001::1",
            "2001:db8::1",
            "fc00::1",
            "fdff:ffff::1",
            "fe80::1",
            "febf::1",
            "fec0::1",
            "ff02::1",
        ] {
            assert!(forbidden(&policy, ip), "{ip} should be refused");
        }
    }

    #[test]
    fn ipv6_forms_carrying_a_private_ipv4_are_refused() {
        let policy = EgressPolicy::public_only();
        for ip in [
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "::ffff:10.1.2.3",
            "::127.0.0.1",
            "::10.0.0.1",
            "64:ff9b::127.0.0.1",
            "64:ff9b::a9fe:a9fe",
            "2002:7f00:1::",
            "2002:c0a8:0101::1",
        ] {
            assert!(forbidden(&policy, ip), "{ip} should be refused");
        }
    }

    #[test]
    fn ipv6_forms_carrying_a_public_ipv4_pass() {
        let policy = EgressPolicy::public_only();
        for ip in [
            "::ffff:1.1.1.1",
            "64:ff9b::8.8.8.8",
            "2002:0808:0808::1",
            "2606:4700::1111",
        ] {
            assert!(
                policy.check_ip(ip.parse().unwrap()).is_ok(),
                "{ip} should pass"
            );
        }
    }

    #[test]
    fn an_allowed_range_opens_exactly_that_range() {
        let policy = EgressPolicy::public_only().allow("10.20.0.0/16").unwrap();
        assert!(policy.check_ip("10.20.255.1".parse().unwrap()).is_ok());
        assert!(forbidden(&policy, "10.21.0.1"));
        assert!(forbidden(&policy, "127.0.0.1"));
    }

    #[test]
    fn an_allowed_ipv4_range_covers_its_mapped_form() {
        let policy = EgressPolicy::public_only().allow("127.0.0.1/32").unwrap();
        assert!(policy.check_ip("::ffff:127.0.0.1".parse().unwrap()).is_ok());
        assert!(forbidden(&policy, "::ffff:127.0.0.2"));
        assert!(forbidden(&policy, "::1"));
    }

    #[test]
    fn a_mapped_range_is_read_as_its_ipv4_range() {
        let policy = EgressPolicy::public_only()
            .allow("::ffff:10.0.0.0/104")
            .unwrap();
        assert!(policy.check_ip("10.9.9.9".parse().unwrap()).is_ok());
        assert!(policy.check_ip("::ffff:10.1.1.1".parse().unwrap()).is_ok());
        assert!(forbidden(&policy, "192.168.1.1"));
    }

    #[test]
    fn ipv6_ranges_and_bare_addresses_are_accepted() {
        let policy = EgressPolicy::from_allow_list(" fd00::/8 , ::1 ,").unwrap();
        assert!(policy.check_ip("fd12::5".parse().unwrap()).is_ok());
        assert!(policy.check_ip("::1".parse().unwrap()).is_ok());
        assert!(forbidden(&policy, "fc00::1"));
    }

    #[test]
    fn host_bits_beyond_the_prefix_are_ignored() {
        let policy = EgressPolicy::public_only().allow("192.168.7.9/24").unwrap();
        assert!(policy.check_ip("192.168.7.200".parse().unwrap()).is_ok());
        assert!(forbidden(&policy, "192.168.8.1"));
    }

    #[test]
    fn invalid_ranges_are_refused() {
        for range in [
            "",
            "10.0.0.0/33",
            "::/129",
            "10.0.0/8",
            "10.0.0.0/x",
            "host/8",
        ] {
            assert!(
                matches!(
                    EgressPolicy::public_only().allow(range),
                    Err(EgressError::InvalidRange(_))
                ),
                "{range:?} should be refused"
            );
        }
        assert!(EgressPolicy::from_allow_list("10.0.0.0/8,nonsense").is_err());
    }

    #[test]
    fn an_empty_allow_list_is_public_only() {
        let policy = EgressPolicy::from_allow_list("  ").unwrap();
        assert!(forbidden(&policy, "10.0.0.1"));
        assert!(policy.check_ip("8.8.8.8".parse().unwrap()).is_ok());
    }

    #[tokio::test]
    async fn urls_other_than_http_and_https_are_refused() {
        let policy = EgressPolicy::public_only();
        for url in [
            "ftp://8.8.8.8/",
            "file:///etc/passwd",
            "gopher://8.8.8.8/",
            "ws://8.8.8.8/",
        ] {
            assert!(
                matches!(policy.resolve(url).await, Err(EgressError::Scheme)),
                "{url}"
            );
        }
    }

    #[tokio::test]
    async fn credentials_and_hostless_urls_are_refused() {
        let policy = EgressPolicy::public_only();
        for url in [
            "http://user:pw@8.8.8.8/",
            "http://user@8.8.8.8/",
            "not a url",
            "http://",
        ] {
            assert!(
                matches!(policy.resolve(url).await, Err(EgressError::InvalidUrl(_))),
                "{url}"
            );
        }
    }

    #[tokio::test]
    async fn odd_ipv4_spellings_are_judged_by_what_they_mean() {
        let policy = EgressPolicy::public_only();
        for url in [
            "http://2130706433/",
            "http://0x7f000001/",
            "http://0177.0.0.1/",
            "http://0x7f.1/",
            "http://127.1/",
            "http://[::ffff:7f00:1]/",
            "http://[::ffff:169.254.169.254]/latest/meta-data",
            "https://0xa9.0xfe.0xa9.0xfe/",
        ] {
            let refused = policy.resolve(url).await;
            assert!(
                matches!(refused, Err(EgressError::Forbidden(_))),
                "{url}: {refused:?}"
            );
        }
    }

    #[tokio::test]
    async fn a_literal_public_address_is_pinned_with_the_default_port() {
        let policy = EgressPolicy::public_only();
        let (url, pinned) = policy.resolve("https://8.8.8.8/mcp").await.unwrap();
        assert_eq!(url.path(), "/mcp");
        assert_eq!(pinned, "8.8.8.8:443".parse::<SocketAddr>().unwrap());
    }

    #[tokio::test]
    async fn a_name_resolving_to_loopback_is_refused_unless_allowed() {
        let refused = EgressPolicy::public_only()
            .resolve("http://localhost:9/")
            .await;
        assert!(matches!(refused, Err(EgressError::Forbidden(ip)) if ip.is_loopback()));

        let policy = EgressPolicy::from_allow_list("127.0.0.0/8,::1/128").unwrap();
        let (_, pinned) = policy.resolve("http://localhost:9/").await.unwrap();
        assert!(pinned.ip().is_loopback());
        assert_eq!(pinned.port(), 9);
    }
}
