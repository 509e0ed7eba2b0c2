//! Twilio's request signature (`X-Twilio-Signature`): base64 of HMAC-SHA1, keyed with the auth
//! token, over the full URL Twilio called followed by every POST parameter, sorted by name,
//! each written as name then value.

use base64::{Engine, engine::general_purpose::STANDARD};
use hmac::{Hmac, Mac};
use sha1::Sha1;
use subtle::ConstantTimeEq;

/// The signature of a request to `url` with form `params`.
pub(crate) fn sign(auth_token: &str, url: &str, params: &[(String, String)]) -> String {
    let mut sorted: Vec<&(String, String)> = params.iter().collect();
    sorted.sort();
    let mut mac = match Hmac::<Sha1>::new_from_slice(auth_token.as_bytes()) {
        Ok(mac) => mac,
        Err(_) => return String::new(),
    };
    mac.update(url.as_bytes());
    for (name, value) in sorted {
        mac.update(name.as_bytes());
        mac.update(value.as_bytes());
    }
    STANDARD.encode(mac.finalize().into_bytes())
}

/// True if `signature` is the request's, compared in constant time.
pub(crate) fn verify(
    auth_token: &str,
    url: &str,
    params: &[(String, String)],
    signature: &str,
) -> bool {
    let expected = sign(auth_token, url, params);
    !expected.is_empty() && bool::from(expected.as_bytes().ct_eq(signature.trim().as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::{sign, verify};

    fn params() -> Vec<(String, String)> {
        [
            ("CallSid", "CA1234567890ABCDE"),
            ("Caller", "+12349013030"),
            ("Digits", "1234"),
            ("From", "+12349013030"),
            ("To", "+18005551212"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
    }

    #[test]
    fn matches_twilios_published_example() {
        // Twilio's security documentation: this URL, these parameters, auth token 12345.
        let url = "https://mycompany.com/myapp.php?foo=1&bar=2";
        assert_eq!(
            sign("12345", url, &params()),
            "0/KCTR6DLpKmkAf8muzZqo1nDgQ="
        );
        let mut shuffled = params();
        shuffled.reverse();
        assert!(verify(
            "12345",
            url,
            &shuffled,
            "0/KCTR6DLpKmkAf8muzZqo1nDgQ="
        ));
    }

    #[test]
    fn any_change_breaks_the_signature() {
        let url = "https://mycompany.com/myapp.php?foo=1&bar=2";
        let good = sign("12345", url, &params());
        assert!(!verify("12346", url, &params(), &good));
        assert!(!verify(
            "12345",
            "https://mycompany.com/myapp.php",
            &params(),
            &good
        ));
        let mut changed = params();
        changed[2].1 = "1235".into();
        assert!(!verify("12345", url, &changed, &good));
        assert!(!verify("12345", url, &params(), ""));
        assert!(!verify("12345", url, &params(), &good[..good.len() - 1]));
    }
}
