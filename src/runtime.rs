//! The runtime: drains the durable queues in order per room (rooms run concurrently),
//! turns homeserver events into remote sends and remote messages into Matrix events, and owns
//! retries, permissions and what users are told.
//!
//! Three durable queues feed it: the inbox (homeserver events), the remote inbox (messages
//! from connectors) and the outbox (sends in both directions). Each queue is split by key —
//! a room, or a remote conversation — and each key has at most one worker, which takes the
//! oldest pending row, makes its effect durable, then marks the row done in the same database
//! transaction. A crash at any point leaves the row pending, and the retry reuses the same
//! idempotency key, so nothing is lost and nothing visible is repeated.

mod commands;
mod content;
mod ephemeral;
mod events;
mod ghosts;
mod inbound;
mod outbox;
mod permissions;
mod queues;
mod relations;
mod upgrades;

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use ruma::{OwnedUserId, UserId};
use tokio::{sync::Notify, task::JoinHandle};
use tokio_util::{sync::CancellationToken, task::TaskTracker};

pub use self::{outbox::Send, permissions::Permissions};
use crate::{
    config::Config,
    connector::{ConnectorCtx, Health},
    connectors::Registry,
    matrix::{MatrixClient, backoff},
    store::Store,
};

/// Why the runtime could not be built.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A connector's configuration is unusable.
    #[error("connectors: {0}")]
    Connector(String),
    /// The homeserver client could not be built.
    #[error("homeserver client: {0}")]
    Matrix(#[from] crate::matrix::MatrixError),
    /// The bot's user id is invalid.
    #[error("appservice.bot_localpart / homeserver.server_name: `{0}` is not a valid user id")]
    BotId(String),
}

/// The bridge runtime.
pub struct Runtime {
    config: Arc<Config>,
    store: Store,
    matrix: MatrixClient,
    registry: Registry,
    permissions: Permissions,
    bot: OwnedUserId,
    wake: Notify,
    /// Wakes workers waiting out a backoff (a connector is back online).
    retry_now: Notify,
    hs_reachable: AtomicBool,
    shutdown: CancellationToken,
    /// Every queue worker, so shutdown can wait for the items in flight.
    workers: TaskTracker,
    queues: queues::Active,
    /// Fetches files remote messages link to.
    fetcher: crate::media::Fetcher,
    /// Signs links to Matrix files for networks that take URLs.
    links: crate::media::links::LinkSigner,
    /// Who is typing in each portal room, to send only the changes.
    typing:
        std::sync::Mutex<std::collections::BTreeMap<String, std::collections::BTreeSet<String>>>,
}

impl Runtime {
    /// Builds the runtime; nothing runs until [`Runtime::start`].
    pub fn new(config: Arc<Config>, store: Store) -> Result<Arc<Self>, StartError> {
        let registry = Registry::build(&config.connectors, Some(&store))
            .map_err(|e| StartError::Connector(e.to_string()))?;
        let matrix = MatrixClient::new(&config)?;
        let bot_id = config.bot_user_id();
        let bot = UserId::parse(bot_id.as_str()).map_err(|_| StartError::BotId(bot_id))?;
        let links = crate::media::links::LinkSigner::new(config.appservice.as_token.expose());
        let fetcher = crate::media::Fetcher::new(
            config.homeserver.max_media_size.as_u64(),
            config.media.download_timeout,
            config.media.allow_private_networks,
        );
        Ok(Arc::new(Self {
            permissions: Permissions::new(&config.permissions),
            config,
            store,
            matrix,
            registry,
            bot,
            wake: Notify::new(),
            retry_now: Notify::new(),
            hs_reachable: AtomicBool::new(false),
            shutdown: CancellationToken::new(),
            workers: TaskTracker::new(),
            queues: queues::Active::default(),
            typing: std::sync::Mutex::default(),
            fetcher,
            links,
        }))
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The enabled connectors.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// The homeserver client.
    pub fn matrix(&self) -> &MatrixClient {
        &self.matrix
    }

    /// The homeserver's server name.
    pub fn server_name(&self) -> &str {
        &self.config.homeserver.server_name
    }

    /// The bot's user id.
    pub fn bot(&self) -> &UserId {
        &self.bot
    }

    /// The signer of media links.
    pub fn links(&self) -> &crate::media::links::LinkSigner {
        &self.links
    }

    /// True once the startup check reached the homeserver.
    pub fn homeserver_reachable(&self) -> bool {
        self.hs_reachable.load(Ordering::Relaxed)
    }

    /// Tells the workers new rows are waiting.
    pub fn notify_inbox(&self) {
        self.wake.notify_one();
    }

    /// The token that stops everything.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// Tells every connector about the portals it already has.
    pub async fn open_portals(&self) -> Result<(), crate::store::Error> {
        for entry in self.registry.entries() {
            for conversation in self.store.conversations_of(entry.connector.name()).await? {
                entry.connector.open_conversation(&conversation);
            }
        }
        Ok(())
    }

    /// Starts the homeserver check, the queue dispatcher and every connector.
    pub fn start(self: &Arc<Self>) -> Vec<JoinHandle<()>> {
        let mut tasks = Vec::new();
        let me = self.clone();
        tasks.push(tokio::spawn(async move { me.connect_homeserver().await }));
        let me = self.clone();
        tasks.push(tokio::spawn(async move { me.dispatch().await }));
        for entry in self.registry.entries() {
            let connector = entry.connector.clone();
            let ctx = ConnectorCtx {
                inbound: Arc::new(inbound::Sink {
                    runtime: Arc::downgrade(self),
                }),
                shutdown: self.shutdown.child_token(),
                bot: self.bot.to_string(),
            };
            let shutdown = self.shutdown.clone();
            tasks.push(tokio::spawn(async move {
                let name = connector.name().to_owned();
                let mut attempt = 0;
                while !shutdown.is_cancelled() {
                    match connector.run(ctx.clone()).await {
                        Ok(()) => break,
                        Err(e) => {
                            let delay = backoff(attempt, Duration::from_secs(60), None);
                            attempt += 1;
                            tracing::warn!(connector = %name, error = %e, retry_in = ?delay, "Connector stopped; restarting.");
                            tokio::select! {
                                () = tokio::time::sleep(delay) => {}
                                () = shutdown.cancelled() => break,
                            }
                        }
                    }
                }
            }));
        }
        tasks
    }

    /// Asks every task to finish its current item and stop.
    pub fn stop(&self) {
        self.shutdown.cancel();
        self.workers.close();
    }

    /// Waits until every queue worker has finished its item in flight (after [`Runtime::stop`]).
    pub async fn drained(&self) {
        self.workers.wait().await;
    }

    /// Reaches the homeserver (`whoami` as the bot, then the appservice ping), retrying with
    /// backoff for as long as it takes; passerelle keeps serving meanwhile.
    async fn connect_homeserver(self: Arc<Self>) {
        let mut attempt = 0;
        loop {
            let result = async {
                let me = self.matrix.whoami(None).await?;
                let rtt = self
                    .matrix
                    .ping(&format!("startup-{}", crate::store::now_ms()))
                    .await?;
                Ok::<_, crate::matrix::MatrixError>((me, rtt))
            }
            .await;
            match result {
                Ok((me, rtt)) => {
                    self.hs_reachable.store(true, Ordering::Relaxed);
                    tracing::info!(bot = %me, ping_ms = rtt.as_millis(), "Connected to the homeserver.");
                    if let Err(e) = self
                        .matrix
                        .set_display_name(&self.bot, &self.config.appservice.bot_displayname)
                        .await
                    {
                        tracing::warn!(error = %e, "Cannot set the bot's display name.");
                    }
                    self.wake.notify_one();
                    return;
                }
                Err(e) => {
                    let delay = backoff(attempt, Duration::from_secs(30), None);
                    attempt = attempt.saturating_add(1);
                    let level_warn = attempt > 3;
                    if level_warn {
                        tracing::warn!(error = %e, retry_in = ?delay, "Homeserver not reachable yet; still serving and retrying.");
                    } else {
                        tracing::info!(error = %e, retry_in = ?delay, "Homeserver not reachable yet; retrying.");
                    }
                    tokio::select! {
                        () = tokio::time::sleep(delay) => {}
                        () = self.shutdown.cancelled() => return,
                    }
                }
            }
        }
    }

    /// Health of each connector, by name.
    pub async fn connector_health(&self) -> Vec<(String, Health)> {
        let mut out = Vec::new();
        for e in self.registry.entries() {
            out.push((e.connector.name().to_owned(), e.connector.health().await));
        }
        out
    }
}
