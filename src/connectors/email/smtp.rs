//! Sending through the SMTP relay (lettre), failures classified for the runtime.

use std::time::Duration;

use lettre::{
    AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor,
    transport::smtp::{
        authentication::Credentials,
        client::{Tls, TlsParameters},
        extension::ClientId,
    },
};

use crate::{
    config::{Security, SmtpConfig},
    connector::SendError,
};

/// The relay.
pub(super) type Transport = AsyncSmtpTransport<Tokio1Executor>;

/// A transport for `config`; `hello` names this host in EHLO.
pub(super) fn transport(config: &SmtpConfig, hello: &str) -> Result<Transport, String> {
    let tls = || {
        TlsParameters::new(config.host.clone())
            .map_err(|e| format!("connectors[type=email].smtp.host: TLS setup failed: {e}"))
    };
    let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&config.host)
        .port(config.port)
        .timeout(Some(Duration::from_secs(30)))
        .hello_name(ClientId::Domain(
            config
                .hello_name
                .clone()
                .unwrap_or_else(|| hello.to_owned()),
        ))
        .tls(match config.security {
            Security::Tls => Tls::Wrapper(tls()?),
            Security::Starttls => Tls::Required(tls()?),
            Security::Plain => Tls::None,
        });
    if let (Some(user), Some(password)) = (&config.username, &config.password) {
        builder = builder.credentials(Credentials::new(user.clone(), password.expose().to_owned()));
    }
    Ok(builder.build())
}

/// Sends `mail`.
pub(super) async fn send(transport: &Transport, mail: Message) -> Result<(), SendError> {
    match transport.send(mail).await {
        Ok(_) => Ok(()),
        Err(e) if e.is_permanent() => Err(SendError::Permanent {
            reason: format!("the mail server refused it: {e}"),
        }),
        Err(e) => Err(SendError::Transient {
            reason: format!("SMTP: {e}"),
            retry_after: None,
        }),
    }
}
