//! The XEP-0114 link to the XMPP server: connect, hand-shake, then read and write stanzas.
//!
//! tokio-xmpp's XML stream and xmpp-parsers' typed stanzas do the parsing; this module adds the
//! component handshake and a reader that skips a stanza it cannot parse instead of dropping
//! the whole connection (a remote user must not be able to disconnect the bridge).

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio_xmpp::{
    Stanza,
    connect::{DnsConfig, ServerConnector, TcpServerConnector},
    jid::Jid,
    parsers::{component::Handshake, ns, stream_error::DefinedCondition},
    xmlstream::{FallibleStreamElement, ReadError, Timeouts, XmppStream, XmppStreamElement},
};

/// Why the server refused the handshake when another connection holds the component.
pub(super) const ALREADY_CONNECTED: &str = "the XMPP server already has this component connected";

/// An authenticated component stream.
pub(super) type Link = XmppStream<<TcpServerConnector as ServerConnector>::Stream>;

/// What reading the link produced.
pub(super) enum Incoming {
    /// A well-formed stanza.
    Stanza(Box<Stanza>),
    /// Nothing to do (a skipped element, a keep-alive moment).
    Nothing,
    /// The peer has been silent: send something so the link is known to be alive.
    Idle,
}

/// How long the link may stay silent before passerelle pings, and then waits for an answer.
fn timeouts() -> Timeouts {
    Timeouts {
        read_timeout: Duration::from_secs(60),
        response_timeout: Duration::from_secs(20),
    }
}

/// Connects to `server` (host:port) and authenticates as `domain` with `secret`.
pub(super) async fn connect(server: &str, domain: &str, secret: &str) -> Result<Link, String> {
    let jid = Jid::new(domain).map_err(|e| format!("invalid component domain {domain:?}: {e}"))?;
    let connector = TcpServerConnector::from(DnsConfig::addr(server));
    let (pending, _) = connector
        .connect(&jid, ns::COMPONENT, timeouts())
        .await
        .map_err(|e| format!("cannot connect to {server}: {e}"))?;
    let mut pending = pending;
    let header = pending.take_header();
    let mut link: Link = pending.skip_features();
    // Stanzas are small and each is flushed on its own: without this, Nagle's algorithm holds
    // one back until the previous is acknowledged (up to the peer's 40 ms delayed ACK).
    if let Err(e) = link.get_stream().get_ref().set_nodelay(true) {
        tracing::debug!(error = %e, "Cannot set TCP_NODELAY on the XMPP link.");
    }
    let stream_id = header
        .id
        .map(|id| id.into_owned())
        .ok_or_else(|| "the XMPP server sent no stream id".to_owned())?;
    let handshake = Handshake::from_stream_id_and_password(stream_id, secret);
    link.send(&XmppStreamElement::ComponentHandshake(handshake))
        .await
        .map_err(|e| format!("sending the handshake: {e}"))?;
    loop {
        match link.next().await {
            Some(Ok(FallibleStreamElement::Ok(XmppStreamElement::ComponentHandshake(_)))) => {
                return Ok(link);
            }
            Some(Ok(FallibleStreamElement::Ok(XmppStreamElement::StreamError(e)))) => {
                if e.0.condition == DefinedCondition::Conflict {
                    return Err(ALREADY_CONNECTED.to_owned());
                }
                return Err(format!(
                    "the XMPP server refused the component ({}): check the domain and the secret on both sides",
                    e.0.condition
                ));
            }
            Some(Err(ReadError::SoftTimeout)) => continue,
            Some(Err(ReadError::StreamFooterReceived)) | None => {
                return Err("the XMPP server closed the stream during the handshake: check the domain and the secret".into());
            }
            Some(Err(e)) => return Err(format!("handshake: {e}")),
            Some(Ok(_)) => return Err("unexpected answer to the handshake".into()),
        }
    }
}

/// Reads the next item; `Err` means the link is gone.
pub(super) async fn read(link: &mut Link) -> Result<Incoming, String> {
    match link.next().await {
        None => Err("the XMPP server closed the connection".into()),
        Some(Ok(FallibleStreamElement::Ok(XmppStreamElement::Stanza(stanza)))) => {
            Ok(Incoming::Stanza(Box::new(stanza)))
        }
        Some(Ok(FallibleStreamElement::Ok(XmppStreamElement::StreamError(e)))) => {
            Err(format!("stream error from the XMPP server: {e:?}"))
        }
        Some(Ok(FallibleStreamElement::Ok(_))) => Ok(Incoming::Nothing),
        Some(Ok(FallibleStreamElement::Err(e))) => {
            tracing::warn!(connector = "xmpp", error = %e, "Skipped a malformed stanza.");
            Ok(Incoming::Nothing)
        }
        Some(Err(ReadError::SoftTimeout)) => Ok(Incoming::Idle),
        Some(Err(ReadError::ParseError(e))) => {
            tracing::warn!(connector = "xmpp", error = %e, "Skipped an element that could not be parsed.");
            Ok(Incoming::Nothing)
        }
        Some(Err(ReadError::StreamFooterReceived)) => {
            Err("the XMPP server closed the stream".into())
        }
        Some(Err(ReadError::HardError(e))) => {
            Err(format!("connection to the XMPP server lost: {e}"))
        }
    }
}

/// Writes one stanza and flushes it.
pub(super) async fn write(link: &mut Link, stanza: Stanza) -> Result<(), String> {
    link.send(&XmppStreamElement::Stanza(stanza))
        .await
        .map_err(|e| format!("writing to the XMPP server: {e}"))
}
