//! Prometheus metrics, served on their own listener (`metrics.bind`) at `/metrics`.
//!
//! One process-wide set: counters are bumped where things happen (queues, connectors, the
//! homeserver client); queue depths and totals are refreshed from the database every few
//! seconds by [`refresh`].

use std::{
    sync::{LazyLock, atomic::AtomicU64},
    time::Duration,
};

use axum::{Router, http::header, response::IntoResponse, routing::get};
use prometheus_client::{
    encoding::{EncodeLabelSet, text::encode},
    metrics::{counter::Counter, family::Family, gauge::Gauge, histogram::Histogram},
    registry::Registry,
};
use tokio_util::sync::CancellationToken;

use crate::store::Store;

/// Labels naming a connector and a direction (`in`: to Matrix, `out`: to the network).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct MessageLabels {
    /// The connector.
    pub connector: String,
    /// `in` or `out`.
    pub direction: &'static str,
}

/// Labels of a failed send.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct FailureLabels {
    /// Where the send went: a connector, or `matrix`.
    pub target: String,
    /// `transient` (retried) or `permanent` (the room was told).
    pub reason: &'static str,
}

/// Labels of a queue.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct QueueLabels {
    /// `inbox`, `remote_inbox`, `outbox_matrix` or `outbox_remote`.
    pub queue: &'static str,
}

/// Labels of a homeserver request.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct EndpointLabels {
    /// The client-server API endpoint, e.g. `send_message_event`.
    pub endpoint: String,
}

/// Every metric passerelle exports.
pub struct Metrics {
    registry: Registry,
    /// Messages bridged, per connector and direction.
    pub messages: Family<MessageLabels, Counter>,
    /// Sends that failed, per target and kind of failure.
    pub send_failures: Family<FailureLabels, Counter>,
    /// Retries scheduled, per queue.
    pub retries: Family<QueueLabels, Counter>,
    /// Items waiting, per queue.
    pub queue_depth: Family<QueueLabels, Gauge>,
    /// Age of the oldest waiting item, per queue, in seconds.
    pub queue_oldest_age: Family<QueueLabels, Gauge<f64, AtomicU64>>,
    /// Homeserver request latency, per endpoint.
    pub homeserver_latency: Family<EndpointLabels, Histogram>,
    /// Ghost users known.
    pub ghosts: Gauge,
    /// Portal rooms.
    pub portals: Gauge,
}

impl Metrics {
    fn new() -> Self {
        let mut registry = Registry::with_prefix("passerelle");
        let messages = Family::<MessageLabels, Counter>::default();
        registry.register("messages", "Messages bridged", messages.clone());
        let send_failures = Family::<FailureLabels, Counter>::default();
        registry.register("send_failures", "Failed sends", send_failures.clone());
        let retries = Family::<QueueLabels, Counter>::default();
        registry.register("retries", "Retries scheduled", retries.clone());
        let queue_depth = Family::<QueueLabels, Gauge>::default();
        registry.register(
            "queue_depth",
            "Items waiting in a queue",
            queue_depth.clone(),
        );
        let queue_oldest_age = Family::<QueueLabels, Gauge<f64, AtomicU64>>::default();
        registry.register(
            "queue_oldest_age_seconds",
            "Age of the oldest waiting item of a queue",
            queue_oldest_age.clone(),
        );
        let homeserver_latency = Family::<EndpointLabels, Histogram>::new_with_constructor(|| {
            Histogram::new([
                0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
            ])
        });
        registry.register(
            "homeserver_request_duration_seconds",
            "Homeserver request latency",
            homeserver_latency.clone(),
        );
        let ghosts = Gauge::default();
        registry.register("ghosts", "Ghost users", ghosts.clone());
        let portals = Gauge::default();
        registry.register("portals", "Portal rooms", portals.clone());
        Self {
            registry,
            messages,
            send_failures,
            retries,
            queue_depth,
            queue_oldest_age,
            homeserver_latency,
            ghosts,
            portals,
        }
    }

    /// The metrics in the Prometheus text format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        if let Err(e) = encode(&mut out, &self.registry) {
            tracing::warn!(error = %e, "Metrics could not be encoded.");
        }
        out
    }

    /// Counts a bridged message.
    pub fn message(&self, connector: &str, direction: &'static str) {
        self.messages
            .get_or_create(&MessageLabels {
                connector: connector.to_owned(),
                direction,
            })
            .inc();
    }

    /// Counts a failed send.
    pub fn failure(&self, target: &str, reason: &'static str) {
        self.send_failures
            .get_or_create(&FailureLabels {
                target: target.to_owned(),
                reason,
            })
            .inc();
    }

    /// Records a homeserver request's duration.
    pub fn homeserver_request(&self, endpoint: &str, took: Duration) {
        self.homeserver_latency
            .get_or_create(&EndpointLabels {
                endpoint: endpoint.to_owned(),
            })
            .observe(took.as_secs_f64());
    }
}

/// The process's metrics.
pub static METRICS: LazyLock<Metrics> = LazyLock::new(Metrics::new);

/// The endpoint name of a ruma request type (`…::send_message_event::v3::Request` →
/// `send_message_event`).
pub fn endpoint_of<R>() -> &'static str {
    let path = std::any::type_name::<R>();
    let mut segments = path.rsplit("::");
    let _request = segments.next();
    match segments.next() {
        Some(version) if version.starts_with('v') || version == "unstable" => {
            segments.next().unwrap_or(path)
        }
        Some(other) => other,
        None => path,
    }
}

/// Refreshes the database-derived gauges every `every` until `shutdown`.
pub async fn refresh(store: Store, every: Duration, shutdown: CancellationToken) {
    loop {
        if let Ok(queues) = store.queue_stats().await {
            let now = crate::store::now_ms();
            for (queue, depth, oldest) in queues {
                let labels = QueueLabels { queue };
                METRICS.queue_depth.get_or_create(&labels).set(depth);
                let age = oldest.map_or(0.0, |t| (now - t).max(0) as f64 / 1000.0);
                METRICS.queue_oldest_age.get_or_create(&labels).set(age);
            }
        }
        if let Ok(n) = store.ghost_count().await {
            METRICS.ghosts.set(n);
        }
        if let Ok(n) = store.portal_count().await {
            METRICS.portals.set(n);
        }
        tokio::select! {
            () = tokio::time::sleep(every) => {}
            () = shutdown.cancelled() => return,
        }
    }
}

/// Serves `/metrics` on `listener` until `shutdown`.
pub async fn serve(listener: tokio::net::TcpListener, shutdown: CancellationToken) {
    let app = Router::new().route("/metrics", get(metrics));
    if let Ok(bind) = listener.local_addr() {
        tracing::info!(%bind, "Serving metrics.");
    }
    let served = axum::serve(listener, app)
        .with_graceful_shutdown(async move { shutdown.cancelled().await })
        .await;
    if let Err(e) = served {
        tracing::error!(error = %e, "The metrics listener stopped.");
    }
}

async fn metrics() -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        METRICS.render(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_names_come_from_the_request_type() {
        assert_eq!(
            endpoint_of::<ruma::api::client::message::send_message_event::v3::Request>(),
            "send_message_event"
        );
        assert_eq!(
            endpoint_of::<ruma::api::client::account::whoami::v3::Request>(),
            "whoami"
        );
    }

    #[test]
    fn counters_appear_in_the_text_format() {
        let m = Metrics::new();
        m.message("xmpp", "out");
        m.message("xmpp", "out");
        m.failure("matrix", "transient");
        m.homeserver_request("whoami", Duration::from_millis(12));
        let text = m.render();
        assert!(
            text.contains("passerelle_messages_total{connector=\"xmpp\",direction=\"out\"} 2"),
            "{text}"
        );
        assert!(
            text.contains(
                "passerelle_send_failures_total{target=\"matrix\",reason=\"transient\"} 1"
            ),
            "{text}"
        );
        assert!(
            text.contains(
                "passerelle_homeserver_request_duration_seconds_count{endpoint=\"whoami\"} 1"
            ),
            "{text}"
        );
    }
}
