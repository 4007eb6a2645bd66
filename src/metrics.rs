//! Prometheus metrics (docs/http-api.md `GET /metrics`), one registry per running application so
//! that several apps in one test process do not share counters; `activity` keeps the last
//! day per minute for the operator API.

pub mod activity;

use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec, Opts, Registry, TextEncoder,
};

pub struct Metrics {
    registry: Registry,
    events_received: IntCounterVec,
    pub rule_runs: IntCounterVec,
    pub deliveries: IntCounterVec,
    pub queue_depth: IntGauge,
    /// 1 when `/readyz` would answer 200, else 0 (set at each scrape and each `/readyz`).
    pub ready: IntGauge,
    pub ingest_seconds: Histogram,
    pub rule_seconds: Histogram,
    pub provider_request_seconds: HistogramVec,
    pub task_restarts: IntCounterVec,
    pub outcome_write_failures: IntCounterVec,
    /// 0 active, 1 paused by an operator, 2 circuit breaker open.
    pub provider_state: IntGaugeVec,
    pub breaker_opened: IntCounterVec,
    pub rules_reload_failures: IntCounter,
    /// Actions shadow rules would have taken (never carried out), by rule file.
    pub shadow_actions: IntCounterVec,
    /// Per-minute counts and the last refused webhooks (`GET /admin/stats`, `/rejections`).
    pub activity: activity::Activity,
}

const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

impl Metrics {
    pub fn new() -> Metrics {
        let registry = Registry::new();
        let counter = |name: &str, help: &str, labels: &[&str]| {
            let c = IntCounterVec::new(Opts::new(name, help), labels).expect("valid metric");
            registry
                .register(Box::new(c.clone()))
                .expect("unique metric");
            c
        };
        let histogram = |name: &str, help: &str| {
            let h = Histogram::with_opts(
                HistogramOpts::new(name, help).buckets(LATENCY_BUCKETS.to_vec()),
            )
            .expect("valid metric");
            registry
                .register(Box::new(h.clone()))
                .expect("unique metric");
            h
        };
        let events_received = counter(
            "switchboard_events_received_total",
            "Inbound webhooks by source and result (accepted, duplicate, or the rejection code).",
            &["source", "result"],
        );
        let rule_runs = counter(
            "switchboard_rule_runs_total",
            "Rule runs by rule file and outcome (ok, error).",
            &["rule", "outcome"],
        );
        let shadow_actions = counter(
            "switchboard_shadow_actions_total",
            "Actions shadow rules (rules/shadow/) would have taken, by rule file; never carried out.",
            &["rule"],
        );
        let deliveries = counter(
            "switchboard_deliveries_total",
            "Delivery attempts by provider, action and outcome (success, retry, dead).",
            &["provider", "action", "outcome"],
        );
        let task_restarts = counter(
            "switchboard_task_restarts_total",
            "Background tasks (rules, executor, retention, rule watcher) restarted after they stopped or panicked.",
            &["task"],
        );
        let outcome_write_failures = counter(
            "switchboard_outcome_write_failures_total",
            "Failed writes of a delivery's outcome, by provider (each is tried again; after the last try the delivery's lease returns it to the queue).",
            &["provider"],
        );
        let breaker_opened = counter(
            "switchboard_breaker_opened_total",
            "Times a provider's circuit breaker opened after retryable failures in a row.",
            &["provider"],
        );
        let provider_state = IntGaugeVec::new(
            Opts::new(
                "switchboard_provider_state",
                "Each provider's state: 0 active, 1 paused by an operator, 2 circuit breaker open.",
            ),
            &["provider"],
        )
        .expect("valid metric");
        registry
            .register(Box::new(provider_state.clone()))
            .expect("unique metric");
        let rules_reload_failures = IntCounter::new(
            "switchboard_rules_reload_failures_total",
            "Reloads of the rules folder that failed (a file did not compile); the previous rules kept running.",
        )
        .expect("valid metric");
        registry
            .register(Box::new(rules_reload_failures.clone()))
            .expect("unique metric");
        let queue_depth = IntGauge::new(
            "switchboard_queue_depth",
            "Events waiting for rules plus deliveries not yet finished.",
        )
        .expect("valid metric");
        registry
            .register(Box::new(queue_depth.clone()))
            .expect("unique metric");
        let ready = IntGauge::new(
            "switchboard_ready",
            "1 when the instance is ready (GET /readyz answers 200: the store can write and every background task runs), 0 when not; set at each scrape.",
        )
        .expect("valid metric");
        registry
            .register(Box::new(ready.clone()))
            .expect("unique metric");
        let ingest_seconds = histogram(
            "switchboard_ingest_seconds",
            "Time from a webhook's arrival to its answer.",
        );
        let rule_seconds = histogram(
            "switchboard_rule_seconds",
            "Time to run all rules on one event.",
        );
        let provider_request_seconds = HistogramVec::new(
            HistogramOpts::new(
                "switchboard_provider_request_seconds",
                "Provider request latency.",
            )
            .buckets(LATENCY_BUCKETS.to_vec()),
            &["provider"],
        )
        .expect("valid metric");
        registry
            .register(Box::new(provider_request_seconds.clone()))
            .expect("unique metric");
        Metrics {
            registry,
            events_received,
            rule_runs,
            deliveries,
            queue_depth,
            ready,
            ingest_seconds,
            rule_seconds,
            provider_request_seconds,
            task_restarts,
            outcome_write_failures,
            provider_state,
            breaker_opened,
            rules_reload_failures,
            shadow_actions,
            activity: activity::Activity::default(),
        }
    }

    pub fn received(&self, source: &str, result: &str) {
        self.events_received
            .with_label_values(&[source, result])
            .inc();
    }

    /// Create each provider's and task's counters at 0, so that they are scraped before the
    /// first failure and `increase()` in alerts sees the first one (deploy/prometheus).
    pub fn start_at_zero<'a>(&self, providers: impl Iterator<Item = &'a str>, tasks: &[&str]) {
        for provider in providers {
            self.breaker_opened.with_label_values(&[provider]);
            self.outcome_write_failures.with_label_values(&[provider]);
            self.provider_state.with_label_values(&[provider]);
        }
        for task in tasks {
            self.task_restarts.with_label_values(&[task]);
        }
    }

    /// The registry in Prometheus' text format.
    pub fn render(&self) -> String {
        let mut buffer = Vec::new();
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut buffer);
        String::from_utf8(buffer).unwrap_or_default()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}
