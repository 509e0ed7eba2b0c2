//! Unguessable links to Matrix files, for networks that take a URL instead of the bytes.
//!
//! A link is `<public_url>/_passerelle/media/v1/<mxc, base64url>.<HMAC-SHA256, hex>/<file name>`:
//! anyone holding it can fetch that one file, nobody can forge a link to another.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use url::Url;

/// The path prefix links live under.
pub const PATH_PREFIX: &str = "/_passerelle/media/v1/";

/// Signs and checks media links.
#[derive(Clone)]
pub struct LinkSigner {
    key: [u8; 32],
}

impl std::fmt::Debug for LinkSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LinkSigner([redacted])")
    }
}

impl LinkSigner {
    /// A signer whose key derives from `secret` (the as_token: rotating it revokes old links).
    pub fn new(secret: &str) -> Self {
        let mut hasher = Sha256::new();
        hasher.update(b"passerelle media links\0");
        hasher.update(secret.as_bytes());
        Self {
            key: hasher.finalize().into(),
        }
    }

    fn mac(&self, mxc: &str) -> Option<Hmac<Sha256>> {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.key).ok()?;
        mac.update(mxc.as_bytes());
        Some(mac)
    }

    /// The public link to `mxc`, named `filename`.
    pub fn link(&self, base: &Url, mxc: &str, filename: &str) -> Option<String> {
        let signature: String = self
            .mac(mxc)?
            .finalize()
            .into_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let name: String = url::form_urlencoded::byte_serialize(filename.as_bytes()).collect();
        Some(format!(
            "{}{}{}.{signature}/{name}",
            base.as_str().trim_end_matches('/'),
            PATH_PREFIX,
            URL_SAFE_NO_PAD.encode(mxc)
        ))
    }

    /// The `mxc://` URI a token (`<mxc, base64url>.<signature>`) stands for, if it is genuine.
    pub fn verify(&self, token: &str) -> Option<String> {
        let (encoded, signature) = token.split_once('.')?;
        let mxc = String::from_utf8(URL_SAFE_NO_PAD.decode(encoded).ok()?).ok()?;
        if !mxc.starts_with("mxc://") || signature.len() != 64 {
            return None;
        }
        let bytes: Vec<u8> = (0..32)
            .map(|i| u8::from_str_radix(signature.get(i * 2..i * 2 + 2)?, 16).ok())
            .collect::<Option<_>>()?;
        // verify_slice compares in constant time.
        self.mac(&mxc)?.verify_slice(&bytes).ok()?;
        Some(mxc)
    }
}

#[cfg(test)]
mod tests {
    use url::Url;

    use super::{LinkSigner, PATH_PREFIX};

    #[test]
    fn links_verify_and_forgeries_do_not() {
        let signer = LinkSigner::new("as-token");
        let base = Url::parse("https://bridge.example.org/").expect("url");
        let link = signer
            .link(&base, "mxc://example.org/abc", "rapport final.pdf")
            .expect("link");
        let prefix = format!("https://bridge.example.org{PATH_PREFIX}");
        assert!(link.starts_with(&prefix), "{link}");
        assert!(link.ends_with("/rapport+final.pdf"), "{link}");
        let token = link
            .trim_start_matches(&prefix)
            .split('/')
            .next()
            .expect("token");
        assert_eq!(
            signer.verify(token).as_deref(),
            Some("mxc://example.org/abc")
        );
        // Another key, another file's signature, a truncated or garbled token: refused.
        assert_eq!(LinkSigner::new("other").verify(token), None);
        let other = signer
            .link(&base, "mxc://example.org/xyz", "x")
            .expect("link");
        let other_token = other
            .trim_start_matches(&prefix)
            .split('/')
            .next()
            .expect("token");
        let other_sig = other_token.split_once('.').expect("sig").1;
        let forged = format!("{}.{other_sig}", token.split_once('.').expect("mxc part").0);
        assert_eq!(signer.verify(&forged), None);
        assert_eq!(signer.verify(&token[..token.len() - 2]), None);
        assert_eq!(signer.verify("garbage"), None);
    }
}
