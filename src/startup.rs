//! Wiring: `Application::build(settings)` opens the store, compiles the rules, binds the
//! listener (port 0 in tests) and returns an application that `run_until_stopped` runs:
//! the HTTP server, the rule workers and the executor, with a graceful stop on
//! SIGTERM / Ctrl-C. `serve` and every integration test go through this one function.
//! `routes` is the one table of HTTP routes; each entry registers a route and describes it
//! in the OpenAPI document (`document`, served at `/openapi.json`).

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_web::body::MessageBody;
use actix_web::dev::{Server, ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::{get, web, App, HttpResponse, HttpServer};
use tokio::sync::watch;
use utoipa::OpenApi as _;
use utoipa_actix_web::service_config::ServiceConfig;
use utoipa_actix_web::AppExt as _;

use crate::config::Settings;
use crate::http::tls::Certificates;
use crate::http::{health, openapi, AppState};
use crate::metrics::Metrics;
use crate::rules::{build_engine, Problem, RuleBook, RuleEnv};
use crate::store::{self, Store, StoreError};
use crate::supervisor::{supervise, Tasks};
use crate::worker::{self, RuleRunner};
use crate::{executor, inbound};

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("store locked by pid {0}")]
    StoreLocked(String),
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
    Rules(Vec<Problem>),
    #[error("cannot listen on {address}: {source}")]
    Listen {
        address: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    Tls(#[from] crate::http::tls::TlsError),
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

pub struct Application {
    port: u16,
    /// The certificates HTTPS serves, when `[server] tls_cert` is set.
    certificates: Option<Arc<Certificates>>,
    server: Server,
    watcher: crate::rules::watch::RuleWatcher,
    state: web::Data<AppState>,
    stop: watch::Sender<bool>,
}

/// How long a stop waits for requests in flight to providers.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

impl Application {
    /// # Errors
    /// The store is locked or cannot be opened, a rule does not compile, or the address
    /// cannot be bound.
    pub async fn build(settings: Settings) -> Result<Application, StartupError> {
        let book = RuleBook::load(Arc::new(build_engine()), &settings.rules.dir)
            .map_err(StartupError::Rules)?;
        let store = store::open(&settings.storage).await.map_err(|e| match e {
            StoreError::Locked(pid) => StartupError::StoreLocked(pid),
            other => StartupError::Unexpected(anyhow::anyhow!(other)),
        })?;
        let certificates = match (&settings.server.tls_cert, &settings.server.tls_key) {
            (Some(cert), Some(key)) => Some(Certificates::load(cert, key)?),
            _ => None,
        };
        let listener =
            TcpListener::bind(&settings.server.listen).map_err(|source| StartupError::Listen {
                address: settings.server.listen.clone(),
                source,
            })?;
        let port = listener
            .local_addr()
            .map_err(|e| StartupError::Unexpected(e.into()))?
            .port();
        let settings = Arc::new(settings);
        let metrics = Arc::new(Metrics::new());
        metrics.start_at_zero(
            settings.providers.keys().map(String::as_str),
            &["rules", "executor", "retention", "rule-watcher"],
        );
        book.count_failures_in(metrics.rules_reload_failures.clone());
        let runner = RuleRunner {
            book: Arc::new(book),
            env: Arc::new(RuleEnv::from_settings(&settings)),
            metrics: Some(metrics.clone()),
        };
        let state = web::Data::new(AppState {
            settings: settings.clone(),
            store,
            runner,
            metrics,
            tasks: Arc::new(Tasks::default()),
            gates: executor::gate::gates(&settings),
        });
        let app_state = state.clone();
        let served_document = web::Data::new(openapi::Document::render(&document()));
        let server = HttpServer::new(move || {
            app()
                .app_data(app_state.clone())
                .app_data(served_document.clone())
        })
        .disable_signals()
        .shutdown_timeout(5);
        let server = match &certificates {
            Some(certificates) => {
                server.listen_rustls_0_23(listener, certificates.server_config()?)
            }
            None => server.listen(listener),
        }
        .map_err(|e| StartupError::Unexpected(e.into()))?
        .run();
        let (stop, _) = watch::channel(false);
        let watcher = crate::rules::watch::RuleWatcher::start(state.runner.book.clone());
        Ok(Application {
            port,
            certificates,
            server,
            watcher,
            state,
            stop,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `https` when `[server] tls_cert` is set, else `http`.
    pub fn scheme(&self) -> &'static str {
        if self.certificates.is_some() {
            "https"
        } else {
            "http"
        }
    }

    /// Read the certificate and key files again, as SIGHUP does.
    ///
    /// # Errors
    /// As at start; the pair in use stays.
    pub fn reload_certificates(&self) -> Result<(), crate::http::tls::TlsError> {
        match &self.certificates {
            Some(certificates) => certificates.reload(),
            None => Ok(()),
        }
    }

    pub fn store(&self) -> Store {
        self.state.store.clone()
    }

    /// The supervised background tasks (tests stop one to see it restarted).
    pub fn tasks(&self) -> Arc<Tasks> {
        self.state.tasks.clone()
    }

    /// A handle that stops the application as SIGTERM would.
    pub fn stopper(&self) -> watch::Sender<bool> {
        self.stop.clone()
    }

    /// Serve until SIGTERM, Ctrl-C or the stopper; then stop accepting, let the workers
    /// finish, wait up to a bound for provider requests in flight, and close the store.
    ///
    /// # Errors
    /// When the HTTP server fails.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        let Application {
            server,
            watcher,
            state,
            stop,
            certificates,
            ..
        } = self;
        let reloader = certificates.map(crate::http::tls::reload_on_sighup);
        let store = state.store.clone();
        let (tasks, metrics) = (state.tasks.clone(), state.metrics.clone());
        let worker = {
            let (store, runner) = (store.clone(), state.runner.clone());
            supervise(
                "rules",
                tasks.clone(),
                metrics.clone(),
                stop.subscribe(),
                move |stop| worker::run(store.clone(), runner.clone(), stop),
            )
        };
        let executor = {
            let (store, settings, metrics, gates) = (
                store.clone(),
                state.settings.clone(),
                metrics.clone(),
                state.gates.clone(),
            );
            supervise(
                "executor",
                tasks.clone(),
                metrics.clone(),
                stop.subscribe(),
                move |stop| {
                    let (store, settings, metrics, gates) = (
                        store.clone(),
                        settings.clone(),
                        metrics.clone(),
                        gates.clone(),
                    );
                    async move {
                        if let Err(e) =
                            executor::run(store, settings, metrics, gates, stop, SHUTDOWN_GRACE)
                                .await
                        {
                            tracing::error!("the executor stopped: {e:#}");
                        }
                    }
                },
            )
        };
        let retention = {
            let (store, days) = (store.clone(), state.settings.storage.retention_days);
            supervise(
                "retention",
                tasks.clone(),
                metrics.clone(),
                stop.subscribe(),
                move |stop| store::retention::run(store.clone(), days, stop),
            )
        };
        let watcher = {
            let book = state.runner.book.clone();
            // The first run uses the watcher started in `build` (it already saw any change
            // since); a restart starts a new one.
            let first = std::sync::Mutex::new(Some(watcher));
            supervise(
                "rule-watcher",
                tasks.clone(),
                metrics.clone(),
                stop.subscribe(),
                move |stop| {
                    let watcher = first
                        .lock()
                        .expect("first watcher")
                        .take()
                        .unwrap_or_else(|| crate::rules::watch::RuleWatcher::start(book.clone()));
                    watcher.run(stop)
                },
            )
        };
        let handle = server.handle();
        let mut stopped = stop.subscribe();
        let server_task = tokio::spawn(server);
        tokio::select! {
            _ = shutdown_signal() => tracing::info!("stopping: signal received"),
            _ = stopped.wait_for(|s| *s) => tracing::info!("stopping"),
        }
        handle.stop(true).await;
        let _ = stop.send(true);
        let _ = worker.await;
        let _ = watcher.await;
        let _ = executor.await;
        let _ = retention.await;
        let _ = server_task.await;
        if let Some(reloader) = reloader {
            reloader.abort();
        }
        store.close();
        tracing::info!("stopped");
        Ok(())
    }
}

/// The HTTP application without its data (the state and the rendered document): the
/// routes of [`routes`], and the JSON 404 for any other path. Every request runs in a
/// `tracing-actix-web` span (method, route, request id), so its log lines can be told apart.
pub fn app() -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    App::new()
        .into_utoipa_app()
        .configure(routes)
        .default_service(web::to(health::not_found))
        .into_app()
        .wrap(tracing_actix_web::TracingLogger::<
            crate::http::spans::RequestSpan,
        >::new())
}

/// Every HTTP route, each registered and described in one call (utoipa-actix-web takes a
/// service only with its `#[utoipa::path]` description). Any other path answers the JSON
/// 404 of `health::not_found`.
pub fn routes(config: &mut ServiceConfig) {
    config
        .service(openapi::webhook(inbound::receive_webhook))
        .service(openapi::webhook_verification(inbound::verify_subscription))
        .service(health::healthz)
        .service(health::readyz)
        .service(metrics_text)
        .service(openapi::document)
        .configure(crate::admin::routes);
}

/// The OpenAPI 3.1 document of every route in [`routes`].
pub fn document() -> utoipa::openapi::OpenApi {
    let (_, api) = App::new()
        .into_utoipa_app()
        .openapi(openapi::ApiDoc::openapi())
        .configure(routes)
        .split_for_parts();
    openapi::finish(api)
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("SIGTERM handler");
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}

/// `GET /metrics`: Prometheus text, no auth.
#[utoipa::path(
    tag = "health",
    operation_id = "metrics",
    responses(
        (status = 200, description = "Prometheus text format (docs/http-api.md): `switchboard_events_received_total`, `switchboard_rule_runs_total`, `switchboard_deliveries_total`, `switchboard_queue_depth`, `switchboard_ready` and the latency histograms", content_type = "text/plain; version=0.0.4", body = String),
    )
)]
#[get("/metrics")]
async fn metrics_text(state: web::Data<AppState>) -> HttpResponse {
    if let Ok((events, deliveries)) = state.store.queue_depth().await {
        state.metrics.queue_depth.set(events + deliveries);
    }
    let ready = health::readiness(&state).await.is_ok();
    state.metrics.ready.set(i64::from(ready));
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(state.metrics.render())
}
