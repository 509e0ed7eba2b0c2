//! Per-key FIFO workers over the durable queues.

use std::{collections::BTreeSet, sync::Arc, time::Duration};

use tokio::sync::Mutex;

use super::Runtime;

/// Attempts at an item whose processing panics before it is marked failed.
const PANIC_RETRIES: u32 = 3;
use crate::{
    matrix::backoff,
    metrics::{METRICS, QueueLabels},
    store::{Direction, InboxRow, MessageMapping, NewOutbox, OutboxRow, RemoteInboxRow, state},
};

/// Identifies one ordered queue.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum QueueKey {
    /// Homeserver events of one room.
    Inbox(String),
    /// Remote messages of one conversation: (connector, conversation).
    Remote(String, String),
    /// Sends of one room in one direction.
    Outbox(Direction, String),
}

/// Keys that currently have a worker.
#[derive(Default)]
pub(super) struct Active(Mutex<BTreeSet<QueueKey>>);

/// One row taken from a queue.
pub(super) enum Item {
    Inbox(InboxRow),
    Remote(RemoteInboxRow),
    Outbox(OutboxRow),
}

/// What processing an item came to.
#[derive(Debug)]
pub(super) enum Outcome {
    /// Effect made; queue these sends with it.
    Done(Vec<NewOutbox>),
    /// Nothing to do (not ours, an echo, malformed); the reason is kept for inspection.
    Skipped(String),
    /// Temporary failure: try the same item again later.
    Retry {
        error: String,
        retry_after: Option<Duration>,
    },
    /// An outbox send succeeded.
    Sent {
        result_id: String,
        mapping: Option<MessageMapping>,
        sends: Vec<NewOutbox>,
    },
    /// Permanent failure: record it and queue these sends (the user's notice).
    Failed {
        error: String,
        sends: Vec<NewOutbox>,
    },
}

impl From<crate::matrix::MatrixError> for Outcome {
    fn from(e: crate::matrix::MatrixError) -> Self {
        match e.kind {
            crate::matrix::RetryKind::Permanent => Self::Failed {
                error: e.to_string(),
                sends: Vec::new(),
            },
            crate::matrix::RetryKind::Transient { retry_after } => Self::Retry {
                error: e.to_string(),
                retry_after,
            },
            crate::matrix::RetryKind::Network => Self::Retry {
                error: e.to_string(),
                retry_after: None,
            },
        }
    }
}

impl From<crate::store::Error> for Outcome {
    fn from(e: crate::store::Error) -> Self {
        Self::Retry {
            error: e.to_string(),
            retry_after: None,
        }
    }
}

/// Attempts after which a user is told a send is still being retried.
const STILL_TRYING_AFTER: i64 = 5;

impl Runtime {
    /// Spawns a worker for every key with pending rows, whenever woken and at least every second.
    pub(super) async fn dispatch(self: Arc<Self>) {
        loop {
            if let Err(e) = self.spawn_workers().await {
                tracing::warn!(error = %e, "Cannot read the queues; retrying.");
            }
            tokio::select! {
                () = self.wake.notified() => {}
                () = tokio::time::sleep(Duration::from_secs(1)) => {}
                () = self.shutdown.cancelled() => return,
            }
        }
    }

    async fn spawn_workers(self: &Arc<Self>) -> crate::store::Result<()> {
        let mut keys: Vec<QueueKey> = Vec::new();
        keys.extend(
            self.store
                .inbox_rooms()
                .await?
                .into_iter()
                .map(QueueKey::Inbox),
        );
        keys.extend(
            self.store
                .remote_conversations()
                .await?
                .into_iter()
                .map(|(c, v)| QueueKey::Remote(c, v)),
        );
        for direction in [Direction::Remote, Direction::Matrix] {
            keys.extend(
                self.store
                    .outbox_rooms(direction)
                    .await?
                    .into_iter()
                    .map(|r| QueueKey::Outbox(direction, r)),
            );
        }
        let mut active = self.queues.0.lock().await;
        for key in keys {
            if active.insert(key.clone()) {
                let me = self.clone();
                self.workers.spawn(async move { me.work(key).await });
            }
        }
        Ok(())
    }

    async fn next_item(&self, key: &QueueKey) -> crate::store::Result<Option<Item>> {
        Ok(match key {
            QueueKey::Inbox(room) => self.store.next_inbox(room).await?.map(Item::Inbox),
            QueueKey::Remote(c, v) => self.store.next_remote(c, v).await?.map(Item::Remote),
            QueueKey::Outbox(d, room) => self.store.next_outbox(*d, room).await?.map(Item::Outbox),
        })
    }

    /// Processes one key's rows in order until none is left.
    async fn work(self: Arc<Self>, key: QueueKey) {
        let mut attempt: u32 = 0;
        loop {
            if self.shutdown.is_cancelled() {
                self.queues.0.lock().await.remove(&key);
                return;
            }
            let item = match self.next_item(&key).await {
                Ok(Some(item)) => item,
                Ok(None) => {
                    // Re-check under the lock so a row committed meanwhile is not stranded.
                    let mut active = self.queues.0.lock().await;
                    if let Ok(Some(_)) = self.next_item(&key).await {
                        continue;
                    }
                    active.remove(&key);
                    return;
                }
                Err(e) => {
                    tracing::warn!(?key, error = %e, "Cannot read the queue; retrying.");
                    if self.pause(Duration::from_secs(1)).await {
                        continue;
                    }
                    self.queues.0.lock().await.remove(&key);
                    return;
                }
            };
            // A panic is a bug; it must not take the queue down with it.
            let processed = futures_util::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(
                self.process(&item),
            ))
            .await;
            let outcome = processed.unwrap_or_else(|_| {
                tracing::error!(
                    ?key,
                    attempt,
                    "Processing an item panicked; retried, then given up."
                );
                if attempt < PANIC_RETRIES {
                    Outcome::Retry {
                        error: "internal error".into(),
                        retry_after: None,
                    }
                } else {
                    Outcome::Failed {
                        error: "internal error".into(),
                        sends: Vec::new(),
                    }
                }
            });
            let queues_more = matches!(
                &outcome,
                Outcome::Done(sends) | Outcome::Failed { sends, .. } | Outcome::Sent { sends, .. } if !sends.is_empty()
            );
            let committed = self.commit(&item, outcome, attempt).await;
            if queues_more && committed.as_ref().is_ok_and(Option::is_none) {
                // New sends were stored with the outcome: start their queue now.
                self.wake.notify_one();
            }
            match committed {
                Ok(None) => attempt = 0,
                Ok(Some(delay)) => {
                    attempt = attempt.saturating_add(1);
                    if !self.pause(delay).await {
                        self.queues.0.lock().await.remove(&key);
                        return;
                    }
                }
                Err(e) => {
                    tracing::error!(?key, error = %e, "Cannot record the outcome; will process the item again.");
                    attempt = attempt.saturating_add(1);
                    if !self
                        .pause(backoff(attempt, self.config.homeserver.max_backoff, None))
                        .await
                    {
                        self.queues.0.lock().await.remove(&key);
                        return;
                    }
                }
            }
        }
    }

    /// Sleeps unless shutting down, or until a connector comes back online; `false` if
    /// shutdown came first.
    async fn pause(&self, delay: Duration) -> bool {
        tokio::select! {
            () = tokio::time::sleep(delay) => true,
            () = self.retry_now.notified() => true,
            () = self.shutdown.cancelled() => false,
        }
    }

    async fn process(&self, item: &Item) -> Outcome {
        match item {
            Item::Inbox(row) => {
                let span = tracing::info_span!("event", room_id = %row.room_id, inbox_id = row.id);
                tracing::Instrument::instrument(self.handle_event(row), span).await
            }
            Item::Remote(row) => {
                let span = tracing::info_span!("remote", connector = %row.connector, remote_inbox_id = row.id);
                tracing::Instrument::instrument(self.handle_remote(row), span).await
            }
            Item::Outbox(row) => {
                let span = tracing::info_span!("send", room_id = %row.room_id, outbox_id = row.id);
                tracing::Instrument::instrument(self.handle_send(row), span).await
            }
        }
    }

    /// Records an outcome; returns the delay before a retry, if one is due.
    async fn commit(
        &self,
        item: &Item,
        outcome: Outcome,
        attempt: u32,
    ) -> crate::store::Result<Option<Duration>> {
        let cap = self.config.homeserver.max_backoff;
        match (item, outcome) {
            (_, Outcome::Retry { error, retry_after }) => {
                let delay = backoff(attempt, cap, retry_after);
                let queue = match item {
                    Item::Inbox(_) => "inbox",
                    Item::Remote(_) => "remote_inbox",
                    Item::Outbox(row) if row.connector.is_some() => "outbox_remote",
                    Item::Outbox(_) => "outbox_matrix",
                };
                METRICS.retries.get_or_create(&QueueLabels { queue }).inc();
                if let Item::Outbox(row) = item {
                    METRICS.failure(row.connector.as_deref().unwrap_or("matrix"), "transient");
                }
                tracing::warn!(error = %error, retry_in = ?delay, attempt = attempt + 1, "Temporary failure; will retry.");
                if let Item::Outbox(row) = item {
                    let attempts = row.attempts + 1;
                    let next = crate::store::now_ms()
                        + i64::try_from(delay.as_millis()).unwrap_or(i64::MAX);
                    self.store
                        .outbox_retry_later(row.id, attempts, next, &error)
                        .await?;
                    if attempts == STILL_TRYING_AFTER
                        && let Some(notice) = self.still_trying_notice(row, &error).await
                    {
                        self.store.enqueue(&[notice]).await?;
                    }
                }
                Ok(Some(delay))
            }
            (Item::Inbox(row), Outcome::Done(sends)) => {
                self.store
                    .finish_inbox(row.id, state::DONE, None, &sends)
                    .await?;
                Ok(None)
            }
            (Item::Inbox(row), Outcome::Skipped(reason)) => {
                tracing::debug!(reason = %reason, "Event not bridged.");
                self.store
                    .finish_inbox(row.id, state::SKIPPED, Some(&reason), &[])
                    .await?;
                Ok(None)
            }
            (Item::Inbox(row), Outcome::Failed { error, sends }) => {
                tracing::error!(error = %error, "Event could not be bridged.");
                self.store
                    .finish_inbox(row.id, state::FAILED, Some(&error), &sends)
                    .await?;
                Ok(None)
            }
            (Item::Remote(row), Outcome::Done(sends)) => {
                tracing::debug!(sends = sends.len(), "Remote message processed.");
                self.store
                    .finish_remote(row.id, state::DONE, None, &sends)
                    .await?;
                Ok(None)
            }
            (Item::Remote(row), Outcome::Skipped(reason)) => {
                tracing::info!(reason = %reason, "Remote message not bridged.");
                self.store
                    .finish_remote(row.id, state::SKIPPED, Some(&reason), &[])
                    .await?;
                Ok(None)
            }
            (Item::Remote(row), Outcome::Failed { error, sends }) => {
                tracing::error!(error = %error, "Remote message could not be bridged.");
                self.store
                    .finish_remote(row.id, state::FAILED, Some(&error), &sends)
                    .await?;
                Ok(None)
            }
            (
                Item::Outbox(row),
                Outcome::Sent {
                    result_id,
                    mapping,
                    sends,
                },
            ) => {
                tracing::debug!(result_id = %result_id, "Sent.");
                match (&row.connector, &mapping) {
                    (Some(connector), _) => METRICS.message(connector, "out"),
                    (None, Some(m)) => METRICS.message(&m.connector, "in"),
                    (None, None) => {}
                }
                self.store
                    .outbox_succeeded(row.id, &result_id, mapping.as_ref(), &sends)
                    .await?;
                Ok(None)
            }
            (Item::Outbox(row), Outcome::Failed { error, sends }) => {
                tracing::error!(error = %error, "Send failed permanently; the room is told.");
                METRICS.failure(row.connector.as_deref().unwrap_or("matrix"), "permanent");
                self.store.outbox_wedged(row.id, &error, &sends).await?;
                Ok(None)
            }
            (Item::Outbox(row), Outcome::Skipped(reason)) => {
                self.store.outbox_wedged(row.id, &reason, &[]).await?;
                Ok(None)
            }
            (_, other) => {
                tracing::error!(outcome = ?other, "Unexpected outcome for this queue; treated as failed.");
                match item {
                    Item::Inbox(row) => {
                        self.store
                            .finish_inbox(row.id, state::FAILED, Some("unexpected outcome"), &[])
                            .await?
                    }
                    Item::Remote(row) => {
                        self.store
                            .finish_remote(row.id, state::FAILED, Some("unexpected outcome"), &[])
                            .await?
                    }
                    Item::Outbox(row) => {
                        self.store
                            .outbox_wedged(row.id, "unexpected outcome", &[])
                            .await?
                    }
                }
                Ok(None)
            }
        }
    }
}
