//! `freshet serve`: opens the data directory, bootstraps identity, and runs the API until SIGTERM or Ctrl-C.

use std::sync::Arc;

use anyhow::Context;
use freshet_api::{AppState, Metrics};
use freshet_core::{Clock, SystemClock};
use freshet_identity::{Bootstrap, Identity, MasterKey};
use freshet_meta::{MetadataStore, SqliteStore};
use freshet_query::QueryEngine;
use freshet_storage::{Storage, StorageConfig};
use freshet_wal::{LocalWal, WalOptions};
use object_store::local::LocalFileSystem;
use tracing_subscriber::EnvFilter;

use crate::config::{LogFormat, ServeConfig};

fn init_logging(format: LogFormat) {
    let filter = EnvFilter::try_from_env("FRESHET_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

/// Takes an exclusive lock on `DIR/freshet.lock` for the life of the process, so that a second server cannot open
/// the same data directory and interleave its WAL and files with ours. The operating system releases the lock
/// when the process ends, however it ends.
fn lock_data_dir(dir: &std::path::Path) -> anyhow::Result<std::fs::File> {
    let path = dir.join("freshet.lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("opening {}", path.display()))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => anyhow::bail!(
            "the data directory {} is in use by another freshet process; stop it, or give this one another \
             --data-dir",
            dir.display()
        ),
        Err(std::fs::TryLockError::Error(e)) => {
            Err(e).with_context(|| format!("locking {}", path.display()))
        }
    }
}

pub fn run(config: ServeConfig) -> anyhow::Result<()> {
    init_logging(config.log_format);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .thread_name("freshet-io")
        .enable_all()
        .build()
        .context("starting the I/O runtime")?;
    // DataFusion gets its own CPU runtime so a heavy query never stalls the HTTP server.
    let query_runtime = tokio::runtime::Builder::new_multi_thread()
        .thread_name("freshet-query")
        .enable_all()
        .build()
        .context("starting the query runtime")?;
    let result = runtime.block_on(serve(config, &query_runtime));
    query_runtime.shutdown_background();
    result
}

async fn serve(config: ServeConfig, query_runtime: &tokio::runtime::Runtime) -> anyhow::Result<()> {
    let dir = &config.data_dir;
    std::fs::create_dir_all(dir)
        .with_context(|| format!("creating data directory {}", dir.display()))?;
    let _lock = lock_data_dir(dir)?;
    let store: Arc<dyn MetadataStore> = Arc::new(
        SqliteStore::open(&dir.join("metadata.sqlite"))
            .with_context(|| format!("opening the metadata store in {}", dir.display()))?,
    );
    let master = match &config.master_key_file {
        Some(path) => MasterKey::load_or_create(path, false)
            .context("FRESHET_MASTER_KEY_FILE must name an existing 32-byte key file")?,
        None => MasterKey::load_or_create(&dir.join("master.key"), true)?,
    };
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let storage_config = StorageConfig {
        buffer_limit_bytes: config.write_buffer_limit,
        persist_age: config.persist_after,
        ..StorageConfig::default()
    };
    let storage = open_storage(dir, Arc::clone(&store), storage_config).await?;
    let background = storage.start_background(Arc::clone(&clock));
    let persist_on_stop = storage.clone();
    let query = QueryEngine::new(
        Arc::clone(&store),
        storage.clone(),
        query_runtime.handle().clone(),
    )
    .context("could not set up the query engine")?
    .with_file_cache(config.query_file_cache_bytes)
    .context("could not set up the query engine")?
    .with_result_limit(config.query_result_limit);
    let identity = Identity::new(Arc::clone(&store), master, Arc::clone(&clock));
    let boot = identity
        .bootstrap(Bootstrap {
            account_id: config.account_id,
            root_access_key: config.root_access_key,
            root_email: config.root_email,
            root_password: config.root_password,
            credentials_file: dir.join("root-credentials.csv"),
        })
        .await
        .context("bootstrapping the first account")?;
    if let Some(path) = &boot.credentials_file {
        eprintln!(
            "freshet: created account {} with a root user; its generated credentials are in {} (shown once, mode 0600)",
            boot.account_id,
            path.display()
        );
    }

    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("listening on {}; hint: is another server using that port? try --listen 127.0.0.1:0", config.listen))?;
    let bound = listener.local_addr()?;
    let advertise_url = config
        .advertise_url
        .unwrap_or_else(|| format!("http://{bound}"));
    let state = AppState {
        store,
        identity,
        clock,
        advertise_url,
        region: config.region,
        metrics: Arc::new(Metrics::default().counting(&query)),
        storage,
        query,
        results: Arc::new(
            freshet_api::QueryResults::new(config.query_wait).with_time_limit(config.query_timeout),
        ),
    };
    tracing::info!(%bound, account = %boot.account_id, data_dir = %dir.display(), "freshet serving");
    eprintln!("freshet: listening on http://{bound}");
    axum::serve(listener, freshet_api::router(state))
        .with_graceful_shutdown(shutdown_signal())
        .await
        .context("serving HTTP")?;
    background.abort();
    // Wait until the background task has really stopped, so that no persistence of its runs alongside this one.
    let _ = background.await;
    // Persist what is buffered, so that the next start has no write-ahead log to replay: replayed rows may
    // duplicate rows in files, which costs every later query a version check over the times they cover.
    if let Err(e) = persist_on_stop.persist(true).await {
        tracing::error!(error = %e, "persisting the write buffers at shutdown failed; the write-ahead log keeps them");
    }
    tracing::info!("freshet stopped");
    Ok(())
}

/// Opens the WAL (replaying what it holds) and the storage engine over the local object store in the data dir.
async fn open_storage(
    dir: &std::path::Path,
    store: Arc<dyn MetadataStore>,
    config: StorageConfig,
) -> anyhow::Result<Storage> {
    let (wal, replay) =
        LocalWal::open(&dir.join("wal"), WalOptions::default()).with_context(|| {
            format!(
                "opening the write-ahead log in {}",
                dir.join("wal").display()
            )
        })?;
    let first_seq = wal.first_seq();
    let objects_dir = dir.join("objects");
    std::fs::create_dir_all(&objects_dir)
        .with_context(|| format!("creating {}", objects_dir.display()))?;
    let objects = Arc::new(
        LocalFileSystem::new_with_prefix(&objects_dir)
            .with_context(|| format!("opening the object store in {}", objects_dir.display()))?,
    );
    Storage::open(store, objects, Arc::new(wal), replay, first_seq, config)
        .await
        .context("opening the storage engine")
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down: finishing requests in flight");
}
