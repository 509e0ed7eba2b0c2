//! Fetching files that remote messages link to, with a size cap, a timeout, and a guard that
//! keeps a remote user from pointing passerelle at the internal network; and links to Matrix
//! files for networks that take URLs ([`links`]).

pub mod links;

use std::{
    net::{IpAddr, SocketAddr},
    time::Duration,
};

use url::Url;

/// Why a file could not be fetched.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FetchError {
    /// Worth trying again later (network error, 5xx).
    #[error("{0}")]
    Transient(String),
    /// Will not work (refused address, too large, 4xx, bad URL).
    #[error("{0}")]
    Permanent(String),
}

/// A fetched file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetched {
    /// The bytes.
    pub data: Vec<u8>,
    /// The MIME type the server declared.
    pub content_type: Option<String>,
    /// The file name, from the URL's last path segment.
    pub filename: String,
}

/// Fetches remote files.
#[derive(Debug, Clone)]
pub struct Fetcher {
    max_bytes: u64,
    timeout: Duration,
    allow_private: bool,
}

impl Fetcher {
    /// A fetcher with these limits.
    pub fn new(max_bytes: u64, timeout: Duration, allow_private: bool) -> Self {
        Self {
            max_bytes,
            timeout,
            allow_private,
        }
    }

    /// A file the remote message carried itself, checked against the same size limit;
    /// `name` is its file name.
    pub fn inline(&self, data: Vec<u8>, name: &str) -> Result<Fetched, FetchError> {
        if data.len() as u64 > self.max_bytes {
            return Err(FetchError::Permanent(format!(
                "{} is larger than the {} limit",
                bytesize::ByteSize::b(data.len() as u64),
                bytesize::ByteSize::b(self.max_bytes)
            )));
        }
        Ok(Fetched {
            data,
            content_type: None,
            filename: name.to_owned(),
        })
    }

    /// Fetches `url`: http or https only, no redirects, every resolved address checked, the
    /// connection pinned to a checked address, at most `max_bytes`.
    pub async fn fetch(&self, url: &str) -> Result<Fetched, FetchError> {
        let parsed =
            Url::parse(url).map_err(|e| FetchError::Permanent(format!("invalid URL: {e}")))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(FetchError::Permanent(format!(
                "{} URLs are not fetched",
                parsed.scheme()
            )));
        }
        let host = parsed
            .host_str()
            .ok_or_else(|| FetchError::Permanent("URL without a host".into()))?
            .to_owned();
        let port = parsed.port_or_known_default().unwrap_or(443);
        let addresses: Vec<SocketAddr> =
            tokio::net::lookup_host((host.trim_matches(['[', ']']), port))
                .await
                .map_err(|e| FetchError::Transient(format!("cannot resolve {host}: {e}")))?
                .collect();
        let Some(address) = addresses.first().copied() else {
            return Err(FetchError::Transient(format!("{host} has no address")));
        };
        if !self.allow_private
            && let Some(bad) = addresses.iter().find(|a| !is_public(a.ip()))
        {
            return Err(FetchError::Permanent(format!(
                "{host} resolves to {}, an internal address (set media.allow_private_networks to allow it)",
                bad.ip()
            )));
        }
        let client = reqwest::Client::builder()
            .timeout(self.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .resolve(&host, address)
            .build()
            .map_err(|e| FetchError::Permanent(format!("HTTP client: {e}")))?;
        let mut response = client
            .get(parsed.clone())
            .send()
            .await
            .map_err(|e| FetchError::Transient(format!("cannot fetch {url}: {e}")))?;
        let status = response.status();
        if status.is_server_error() {
            return Err(FetchError::Transient(format!("{url} answered {status}")));
        }
        if !status.is_success() {
            return Err(FetchError::Permanent(format!("{url} answered {status}")));
        }
        if response
            .content_length()
            .is_some_and(|len| len > self.max_bytes)
        {
            return Err(self.too_large());
        }
        let content_type = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.split(';').next().unwrap_or(v).trim().to_owned());
        let mut data = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| FetchError::Transient(format!("reading {url}: {e}")))?
        {
            if (data.len() + chunk.len()) as u64 > self.max_bytes {
                return Err(self.too_large());
            }
            data.extend_from_slice(&chunk);
        }
        let filename = parsed
            .path_segments()
            .and_then(|mut s| s.next_back().map(str::to_owned))
            .filter(|s| !s.is_empty())
            .map(|s| percent_decode(&s))
            .unwrap_or_else(|| "file".to_owned());
        Ok(Fetched {
            data,
            content_type,
            filename,
        })
    }

    fn too_large(&self) -> FetchError {
        FetchError::Permanent(format!(
            "the file is larger than the {} bytes allowed",
            self.max_bytes
        ))
    }
}

fn percent_decode(s: &str) -> String {
    url::form_urlencoded::parse(format!("x={s}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_else(|| s.to_owned())
}

/// True for addresses on the public internet.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                || a == 0
                || (a == 100 && (64..128).contains(&b)) // carrier-grade NAT
                || (a == 198 && (b == 18 || b == 19)) // benchmarking
                || a >= 240)
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            let first = v6.segments()[0];
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00 // unique local
                || (first & 0xffc0) == 0xfe80 // link local
                || first == 0x2001 && v6.segments()[1] == 0x0db8) // documentation
        }
    }
}

#[cfg(test)]
mod tests {
    use std::{net::IpAddr, time::Duration};

    use super::{FetchError, Fetcher, is_public};

    #[test]
    fn internal_addresses_are_recognised() {
        for internal in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "::1",
            "fc00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
        ] {
            assert!(
                !is_public(internal.parse::<IpAddr>().expect("ip")),
                "{internal}"
            );
        }
        for public in ["93.184.216.34", "2a00:1450:4007:80e::200e", "1.1.1.1"] {
            assert!(is_public(public.parse::<IpAddr>().expect("ip")), "{public}");
        }
    }

    #[tokio::test]
    async fn internal_and_odd_urls_are_refused() {
        let fetcher = Fetcher::new(1024, Duration::from_secs(5), false);
        for url in [
            "http://127.0.0.1:9/x",
            "http://169.254.169.254/latest/meta-data",
            "http://[::1]/x",
            "http://localhost/x",
        ] {
            match fetcher.fetch(url).await {
                Err(FetchError::Permanent(why)) => {
                    assert!(why.contains("internal"), "{url}: {why}")
                }
                other => panic!("{url} was not refused: {other:?}"),
            }
        }
        for url in ["file:///etc/passwd", "ftp://example.org/x", "not a url"] {
            assert!(
                matches!(fetcher.fetch(url).await, Err(FetchError::Permanent(_))),
                "{url}"
            );
        }
    }
}
