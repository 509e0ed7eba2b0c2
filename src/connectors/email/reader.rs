//! Reading the mailbox: new mail by UID (durably tracked with UIDVALIDITY), handed to the
//! runtime, then flagged or moved once Matrix has it; IDLE when the server offers it, polling
//! otherwise.

use std::time::Duration;

use async_imap::extensions::idle::IdleResponse;
use futures_util::TryStreamExt;

use super::{EmailConnector, NAME, imap::ImapSession, inbound};
use crate::{config::AfterBridging, connector::ConnectorCtx};

/// How soon to look again while mail waits for Matrix before it can be marked.
const MARK_RECHECK: Duration = Duration::from_secs(2);

/// How a session ended.
pub(super) enum End {
    /// Shutdown was asked.
    Shutdown,
}

impl EmailConnector {
    /// Serves one IMAP session until shutdown (`Ok`) or a failure (`Err`, reconnect).
    pub(super) async fn serve(
        &self,
        mut session: ImapSession,
        ctx: &ConnectorCtx,
    ) -> Result<End, String> {
        let mailbox = self.config.imap.mailbox.clone();
        let selected = session
            .select(&mailbox)
            .await
            .map_err(|e| format!("cannot open folder `{mailbox}`: {e}"))?;
        let validity = selected.uid_validity.ok_or_else(|| {
            format!("the IMAP server gives folder `{mailbox}` no UIDVALIDITY; it cannot be read reliably")
        })?;
        let idle = session
            .capabilities()
            .await
            .map_err(|e| format!("CAPABILITY failed: {e}"))?
            .has_str("IDLE");
        if self.config.imap.after_bridging == AfterBridging::Move {
            // Exists already: the server says so, and that is fine.
            let _ = session.create(&self.config.imap.processed_folder).await;
        }
        self.set_connected(true);
        ctx.inbound.back_online(NAME);
        loop {
            self.fetch_new(&mut session, &mailbox, validity, ctx)
                .await?;
            let waiting = self.mark_bridged(&mut session, &mailbox, validity).await?;
            let pause = if waiting {
                MARK_RECHECK
            } else {
                self.config.imap.poll_interval
            };
            while session.unsolicited_responses.try_recv().is_ok() {}
            if idle {
                let mut handle = session.idle();
                handle
                    .init()
                    .await
                    .map_err(|e| format!("IDLE refused: {e}"))?;
                let (wait, interrupt) = handle.wait_with_timeout(pause);
                let stop = tokio::select! {
                    result = wait => {
                        match result.map_err(|e| format!("connection lost during IDLE: {e}"))? {
                            IdleResponse::NewData(_) | IdleResponse::Timeout
                            | IdleResponse::ManualInterrupt => false,
                        }
                    }
                    () = ctx.shutdown.cancelled() => true,
                };
                drop(interrupt);
                session = handle
                    .done()
                    .await
                    .map_err(|e| format!("leaving IDLE failed: {e}"))?;
                if stop {
                    let _ = session.logout().await;
                    return Ok(End::Shutdown);
                }
            } else {
                tokio::select! {
                    () = tokio::time::sleep(pause) => {}
                    () = ctx.shutdown.cancelled() => {
                        let _ = session.logout().await;
                        return Ok(End::Shutdown);
                    }
                }
                session
                    .noop()
                    .await
                    .map_err(|e| format!("connection lost: {e}"))?;
            }
        }
    }

    /// Hands every mail newer than the last one read to the runtime, in UID order.
    async fn fetch_new(
        &self,
        session: &mut ImapSession,
        mailbox: &str,
        validity: u32,
        ctx: &ConnectorCtx,
    ) -> Result<(), String> {
        let store = self.store()?;
        let state = store
            .email_mailbox(NAME, mailbox)
            .await
            .map_err(|e| e.to_string())?;
        let (query, last) = match state {
            Some((v, last)) if v == validity => (format!("UID {}:*", last.saturating_add(1)), last),
            previous => {
                if previous.is_some() {
                    tracing::warn!(
                        connector = NAME,
                        folder = mailbox,
                        "The folder's UIDVALIDITY changed: reading its unread mail again (mail already bridged is recognised by its Message-ID)."
                    );
                }
                let query = match self.config.imap.after_bridging {
                    AfterBridging::Seen => "UNSEEN".to_owned(),
                    AfterBridging::Move => "ALL".to_owned(),
                };
                (query, 0)
            }
        };
        let mut uids: Vec<u32> = session
            .uid_search(&query)
            .await
            .map_err(|e| format!("SEARCH failed: {e}"))?
            .into_iter()
            .filter(|uid| *uid > last)
            .collect();
        uids.sort_unstable();
        for uid in uids {
            if ctx.shutdown.is_cancelled() {
                break;
            }
            let size = self.fetch_size(session, uid).await?;
            let max = self.config.max_message_size.as_u64();
            let mark = if size.is_some_and(|s| u64::from(s) > max) {
                let headers = self.fetch_part(session, uid, "BODY.PEEK[HEADER]").await?;
                inbound::too_big(self, &headers, uid, validity, size.unwrap_or(0), ctx).await?;
                None
            } else {
                let raw = self.fetch_part(session, uid, "BODY.PEEK[]").await?;
                inbound::bridge(self, &raw, uid, ctx).await?
            };
            store
                .email_advance(
                    NAME,
                    mailbox,
                    validity,
                    uid,
                    mark.as_ref().map(|(id, needs)| (id.as_str(), *needs)),
                )
                .await
                .map_err(|e| e.to_string())?;
            tracing::debug!(connector = NAME, uid, "Mail handed over to the runtime.");
        }
        Ok(())
    }

    async fn fetch_size(&self, session: &mut ImapSession, uid: u32) -> Result<Option<u32>, String> {
        let fetches: Vec<_> = session
            .uid_fetch(uid.to_string(), "(UID RFC822.SIZE)")
            .await
            .map_err(|e| format!("FETCH failed: {e}"))?
            .try_collect()
            .await
            .map_err(|e| format!("FETCH failed: {e}"))?;
        Ok(fetches
            .iter()
            .find(|f| f.uid == Some(uid))
            .and_then(|f| f.size))
    }

    async fn fetch_part(
        &self,
        session: &mut ImapSession,
        uid: u32,
        item: &str,
    ) -> Result<Vec<u8>, String> {
        let fetches: Vec<_> = session
            .uid_fetch(uid.to_string(), format!("(UID {item})"))
            .await
            .map_err(|e| format!("FETCH failed: {e}"))?
            .try_collect()
            .await
            .map_err(|e| format!("FETCH failed: {e}"))?;
        let fetch = fetches.iter().find(|f| f.uid == Some(uid));
        let bytes = fetch.and_then(|f| {
            if item.contains("HEADER") {
                f.header()
            } else {
                f.body()
            }
        });
        Ok(bytes.unwrap_or_default().to_vec())
    }

    /// Flags or moves the mail Matrix now has; true if some mail still waits for Matrix.
    async fn mark_bridged(
        &self,
        session: &mut ImapSession,
        mailbox: &str,
        validity: u32,
    ) -> Result<bool, String> {
        let store = self.store()?;
        let ready = store
            .email_marks_ready(NAME, mailbox, validity)
            .await
            .map_err(|e| e.to_string())?;
        if !ready.is_empty() {
            let uids: Vec<u32> = ready.iter().map(|m| m.uid).collect();
            let set = uids
                .iter()
                .map(u32::to_string)
                .collect::<Vec<_>>()
                .join(",");
            match self.config.imap.after_bridging {
                AfterBridging::Seen => {
                    let _: Vec<_> = session
                        .uid_store(&set, "+FLAGS.SILENT (\\Seen)")
                        .await
                        .map_err(|e| format!("STORE failed: {e}"))?
                        .try_collect()
                        .await
                        .map_err(|e| format!("STORE failed: {e}"))?;
                }
                AfterBridging::Move => {
                    session
                        .uid_mv(&set, &self.config.imap.processed_folder)
                        .await
                        .map_err(|e| {
                            format!(
                                "cannot move bridged mail to `{}`: {e}",
                                self.config.imap.processed_folder
                            )
                        })?;
                }
            }
            store
                .email_marks_done(NAME, mailbox, validity, &uids)
                .await
                .map_err(|e| e.to_string())?;
        }
        let waiting = store
            .email_marks_waiting(NAME, mailbox, validity)
            .await
            .map_err(|e| e.to_string())?;
        Ok(waiting > 0)
    }
}
