//! The IMAP connection: TLS, STARTTLS or plain, then LOGIN.

use std::{
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
    time::Duration,
};

use async_imap::{Client, Session};
use rustls_platform_verifier::ConfigVerifierExt;
use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    net::TcpStream,
};
use tokio_rustls::{TlsConnector, client::TlsStream};

use crate::config::{ImapConfig, Security};

/// A logged-in IMAP session.
pub(super) type ImapSession = Session<Stream>;

/// How long connecting and logging in may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// A plain or TLS connection.
#[derive(Debug)]
pub(super) enum Stream {
    /// No encryption.
    Plain(TcpStream),
    /// TLS.
    Tls(Box<TlsStream<TcpStream>>),
}

/// Connects and logs in. Errors say what failed, never the password.
pub(super) async fn connect(config: &ImapConfig) -> Result<ImapSession, String> {
    tokio::time::timeout(CONNECT_TIMEOUT, connect_inner(config))
        .await
        .map_err(|_| {
            format!(
                "IMAP {}:{}: no answer within {CONNECT_TIMEOUT:?}",
                config.host, config.port
            )
        })?
}

async fn connect_inner(config: &ImapConfig) -> Result<ImapSession, String> {
    let where_ = format!("IMAP {}:{}", config.host, config.port);
    let tcp = TcpStream::connect((config.host.as_str(), config.port))
        .await
        .map_err(|e| format!("{where_}: cannot connect: {e}"))?;
    let stream = match config.security {
        Security::Tls => Stream::Tls(Box::new(tls(config, tcp).await?)),
        Security::Plain | Security::Starttls => Stream::Plain(tcp),
    };
    let mut client = Client::new(stream);
    client
        .read_response()
        .await
        .map_err(|e| format!("{where_}: no greeting: {e}"))?
        .ok_or_else(|| format!("{where_}: closed before its greeting"))?;
    if config.security == Security::Starttls {
        client
            .run_command_and_check_ok("STARTTLS", None)
            .await
            .map_err(|e| format!("{where_}: STARTTLS refused: {e}"))?;
        let Stream::Plain(tcp) = client.into_inner() else {
            return Err(format!("{where_}: STARTTLS on a TLS connection"));
        };
        client = Client::new(Stream::Tls(Box::new(tls(config, tcp).await?)));
    }
    client
        .login(&config.username, config.password.expose())
        .await
        .map_err(|(e, _)| {
            format!(
                "{where_}: login as {} failed ({e}); check connectors[type=email].imap.username and password",
                config.username
            )
        })
}

async fn tls(config: &ImapConfig, tcp: TcpStream) -> Result<TlsStream<TcpStream>, String> {
    let client_config = rustls::ClientConfig::with_platform_verifier()
        .map_err(|e| format!("TLS setup failed: {e}"))?;
    let name = rustls::pki_types::ServerName::try_from(config.host.clone())
        .map_err(|e| format!("connectors[type=email].imap.host `{}`: {e}", config.host))?;
    TlsConnector::from(Arc::new(client_config))
        .connect(name, tcp)
        .await
        .map_err(|e| {
            format!(
                "IMAP {}:{}: TLS handshake failed: {e}",
                config.host, config.port
            )
        })
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_flush(cx),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}
