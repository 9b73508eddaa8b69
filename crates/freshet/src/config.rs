//! Configuration of `freshet serve`: built-in defaults < `--config` TOML file < `FRESHET_*` environment < flags,
//! merged once into an immutable `ServeConfig`. Only this module reads the environment.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::Args;
use freshet_core::{AccessKeyId, AccountId, Region, Secret};
use serde::Deserialize;

/// Flags of `freshet serve`. Each is also settable as `FRESHET_<NAME>` and in the `--config` file.
#[derive(Debug, Default, Args)]
pub struct ServeArgs {
    /// TOML file with any of the settings below (keys like `data_dir`, `listen`) [env: FRESHET_CONFIG]
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Where data, metadata and keys live [default: ./freshet-data] [env: FRESHET_DATA_DIR]
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Address to listen on; port 0 picks a free port [default: 127.0.0.1:8686] [env: FRESHET_LISTEN]
    #[arg(long, value_name = "HOST:PORT")]
    pub listen: Option<String>,
    /// The server's home region; requests signed for any region are accepted and scoped by it
    /// [default: us-east-1] [env: FRESHET_REGION]
    #[arg(long, value_name = "NAME")]
    pub region: Option<String>,
    /// URL that DescribeEndpoints returns, with its scheme [default: http:// + the listen address]
    /// [env: FRESHET_ADVERTISE_URL]
    #[arg(long, value_name = "URL")]
    pub advertise_url: Option<String>,
    /// Log format: text or json [default: text] [env: FRESHET_LOG_FORMAT]
    #[arg(long, value_name = "FORMAT")]
    pub log_format: Option<String>,
    /// Bytes of buffered writes beyond which writes are throttled (HTTP 429) until persistence catches up
    /// [default: 1073741824] [env: FRESHET_WRITE_BUFFER_LIMIT]
    #[arg(long, value_name = "BYTES")]
    pub write_buffer_limit: Option<String>,
    /// Seconds after which a table's write buffer is persisted to a data file [default: 60]
    /// [env: FRESHET_PERSIST_AFTER]
    #[arg(long, value_name = "SECS")]
    pub persist_after: Option<String>,
    /// Milliseconds a Query call waits for its query; a query still running is answered with a NextToken to poll
    /// [default: 20000] [env: FRESHET_QUERY_WAIT_MS]
    #[arg(long, value_name = "MS")]
    pub query_wait_ms: Option<String>,
    /// Milliseconds a query may run before it is stopped with a QueryExecutionException (Timestream's quota is
    /// one hour) [default: 3600000] [env: FRESHET_QUERY_TIMEOUT_MS]
    #[arg(long, value_name = "MS")]
    pub query_timeout_ms: Option<String>,
    /// Bytes a query's result may hold in memory (as Arrow arrays) before the query fails with a
    /// QueryExecutionException (Timestream's quota on result data is 5 GB) [default: 5368709120]
    /// [env: FRESHET_QUERY_RESULT_LIMIT_BYTES]
    #[arg(long, value_name = "BYTES")]
    pub query_result_limit_bytes: Option<String>,
    /// Bytes of data files kept in memory for queries, least recently used first out; files over an eighth of it
    /// (or over 64 MiB) are read by ranges instead; 0 keeps none [default: 1073741824]
    /// [env: FRESHET_QUERY_FILE_CACHE_BYTES]
    #[arg(long, value_name = "BYTES")]
    pub query_file_cache_bytes: Option<String>,
}

/// The keys a `--config` file may hold.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    data_dir: Option<PathBuf>,
    listen: Option<String>,
    region: Option<String>,
    advertise_url: Option<String>,
    log_format: Option<String>,
    write_buffer_limit: Option<u64>,
    persist_after: Option<u64>,
    query_wait_ms: Option<u64>,
    query_timeout_ms: Option<u64>,
    query_result_limit_bytes: Option<u64>,
    query_file_cache_bytes: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

/// The merged, validated configuration of one server.
#[derive(Debug)]
pub struct ServeConfig {
    pub data_dir: PathBuf,
    pub listen: SocketAddr,
    pub region: Region,
    /// `None` means: derive it from the bound address.
    pub advertise_url: Option<String>,
    pub log_format: LogFormat,
    pub write_buffer_limit: usize,
    pub persist_after: std::time::Duration,
    pub query_wait: std::time::Duration,
    pub query_timeout: std::time::Duration,
    pub query_result_limit: usize,
    pub query_file_cache_bytes: u64,
    pub master_key_file: Option<PathBuf>,
    pub account_id: Option<AccountId>,
    pub root_access_key: Option<(AccessKeyId, Secret)>,
    pub root_email: Option<String>,
    pub root_password: Option<Secret>,
}

/// The process environment, captured once.
pub fn process_env() -> HashMap<String, String> {
    std::env::vars()
        .filter(|(k, _)| k.starts_with("FRESHET_"))
        .collect()
}

impl ServeConfig {
    pub fn resolve(args: ServeArgs, env: &HashMap<String, String>) -> anyhow::Result<Self> {
        let env_get = |k: &str| env.get(k).filter(|v| !v.is_empty()).cloned();
        let config_path = args
            .config
            .clone()
            .or_else(|| env_get("FRESHET_CONFIG").map(PathBuf::from));
        let file = match &config_path {
            Some(p) => read_file_config(p)?,
            None => FileConfig::default(),
        };
        // Later sources win: file < env < flags.
        let pick = |flag: Option<String>, env_key: &str, file: Option<String>| {
            flag.or_else(|| env_get(env_key)).or(file)
        };

        let data_dir = args
            .data_dir
            .or_else(|| env_get("FRESHET_DATA_DIR").map(PathBuf::from))
            .or(file.data_dir)
            .unwrap_or_else(|| PathBuf::from("./freshet-data"));
        let listen_text = pick(args.listen, "FRESHET_LISTEN", file.listen)
            .unwrap_or_else(|| "127.0.0.1:8686".into());
        let listen: SocketAddr = listen_text.parse().with_context(|| {
            format!(
                "invalid listen address {listen_text:?}; hint: use HOST:PORT, e.g. 127.0.0.1:8686"
            )
        })?;
        let region_text =
            pick(args.region, "FRESHET_REGION", file.region).unwrap_or_else(|| "us-east-1".into());
        let region = Region::parse(&region_text)?;
        let advertise_url = pick(
            args.advertise_url,
            "FRESHET_ADVERTISE_URL",
            file.advertise_url,
        );
        if let Some(u) = &advertise_url
            && !(u.starts_with("http://") || u.starts_with("https://"))
        {
            bail!(
                "advertise URL {u:?} has no scheme; hint: write it as http://{u} \
                 (AWS clients would otherwise assume https)"
            );
        }
        let log_format =
            match pick(args.log_format, "FRESHET_LOG_FORMAT", file.log_format).as_deref() {
                None | Some("text") => LogFormat::Text,
                Some("json") => LogFormat::Json,
                Some(other) => bail!("unknown log format {other:?}; hint: use text or json"),
            };

        let number =
            |name: &str, flag: Option<String>, env_key: &str, file: Option<u64>, default: u64| {
                match flag.or_else(|| env_get(env_key)) {
                    Some(text) => text
                        .parse::<u64>()
                        .with_context(|| format!("{name} must be a whole number, got {text:?}")),
                    None => Ok(file.unwrap_or(default)),
                }
            };
        let write_buffer_limit = number(
            "--write-buffer-limit",
            args.write_buffer_limit,
            "FRESHET_WRITE_BUFFER_LIMIT",
            file.write_buffer_limit,
            1 << 30,
        )?;
        let persist_after = number(
            "--persist-after",
            args.persist_after,
            "FRESHET_PERSIST_AFTER",
            file.persist_after,
            60,
        )?;
        let query_wait_ms = number(
            "--query-wait-ms",
            args.query_wait_ms,
            "FRESHET_QUERY_WAIT_MS",
            file.query_wait_ms,
            20_000,
        )?;
        let query_timeout_ms = number(
            "--query-timeout-ms",
            args.query_timeout_ms,
            "FRESHET_QUERY_TIMEOUT_MS",
            file.query_timeout_ms,
            3_600_000,
        )?;
        let query_result_limit = number(
            "--query-result-limit-bytes",
            args.query_result_limit_bytes,
            "FRESHET_QUERY_RESULT_LIMIT_BYTES",
            file.query_result_limit_bytes,
            5 << 30,
        )?;
        let query_file_cache_bytes = number(
            "--query-file-cache-bytes",
            args.query_file_cache_bytes,
            "FRESHET_QUERY_FILE_CACHE_BYTES",
            file.query_file_cache_bytes,
            freshet_query::DEFAULT_FILE_CACHE_BYTES,
        )?;

        let account_id = env_get("FRESHET_ACCOUNT_ID")
            .map(|s| AccountId::parse(&s).context("FRESHET_ACCOUNT_ID"))
            .transpose()?;
        let root_access_key = match (
            env_get("FRESHET_ROOT_ACCESS_KEY_ID"),
            env_get("FRESHET_ROOT_SECRET_ACCESS_KEY"),
        ) {
            (Some(id), Some(secret)) => {
                if secret.len() < 16 {
                    bail!(
                        "FRESHET_ROOT_SECRET_ACCESS_KEY is too short: use at least 16 characters (AWS uses 40)"
                    );
                }
                Some((
                    AccessKeyId::parse(&id).context("FRESHET_ROOT_ACCESS_KEY_ID")?,
                    Secret::new(secret.into_bytes()),
                ))
            }
            (None, None) => None,
            _ => bail!(
                "set both FRESHET_ROOT_ACCESS_KEY_ID and FRESHET_ROOT_SECRET_ACCESS_KEY, or neither"
            ),
        };
        Ok(Self {
            data_dir,
            listen,
            region,
            advertise_url,
            log_format,
            write_buffer_limit: usize::try_from(write_buffer_limit).unwrap_or(usize::MAX),
            persist_after: std::time::Duration::from_secs(persist_after.max(1)),
            query_wait: std::time::Duration::from_millis(query_wait_ms),
            query_timeout: std::time::Duration::from_millis(query_timeout_ms.max(1)),
            query_result_limit: usize::try_from(query_result_limit).unwrap_or(usize::MAX),
            query_file_cache_bytes,
            master_key_file: env_get("FRESHET_MASTER_KEY_FILE").map(PathBuf::from),
            account_id,
            root_access_key,
            root_email: env_get("FRESHET_ROOT_EMAIL"),
            root_password: env_get("FRESHET_ROOT_PASSWORD").map(|p| Secret::new(p.into_bytes())),
        })
    }
}

fn read_file_config(path: &Path) -> anyhow::Result<FileConfig> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading config file {}", path.display()))?;
    toml::from_str(&text).with_context(|| format!("parsing config file {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults() {
        let c = ServeConfig::resolve(ServeArgs::default(), &env(&[])).unwrap();
        assert_eq!(c.data_dir, PathBuf::from("./freshet-data"));
        assert_eq!(c.listen.to_string(), "127.0.0.1:8686");
        assert_eq!(c.region.as_str(), "us-east-1");
        assert_eq!(c.advertise_url, None);
        assert_eq!(c.log_format, LogFormat::Text);
    }

    #[test]
    fn file_then_env_then_flags() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("freshet.toml");
        std::fs::write(
            &file,
            "listen = \"127.0.0.1:1\"\nregion = \"eu-west-1\"\ndata_dir = \"/from/file\"\n",
        )
        .unwrap();
        let args = || ServeArgs {
            config: Some(file.clone()),
            ..Default::default()
        };

        let c = ServeConfig::resolve(args(), &env(&[])).unwrap();
        assert_eq!((c.listen.port(), c.region.as_str()), (1, "eu-west-1"));
        assert_eq!(c.data_dir, PathBuf::from("/from/file"));

        let e = env(&[
            ("FRESHET_LISTEN", "127.0.0.1:2"),
            ("FRESHET_DATA_DIR", "/from/env"),
        ]);
        let c = ServeConfig::resolve(args(), &e).unwrap();
        assert_eq!((c.listen.port(), c.region.as_str()), (2, "eu-west-1"));
        assert_eq!(c.data_dir, PathBuf::from("/from/env"));

        let c = ServeConfig::resolve(
            ServeArgs {
                listen: Some("127.0.0.1:3".into()),
                ..args()
            },
            &e,
        )
        .unwrap();
        assert_eq!(c.listen.port(), 3);

        let c = ServeConfig::resolve(
            ServeArgs::default(),
            &env(&[("FRESHET_CONFIG", file.to_str().unwrap())]),
        )
        .unwrap();
        assert_eq!(
            c.region.as_str(),
            "eu-west-1",
            "the config file may come from the environment too"
        );
    }

    #[test]
    fn bad_settings_say_what_to_do() {
        let err = |args: ServeArgs, e: &[(&str, &str)]| {
            format!("{:#}", ServeConfig::resolve(args, &env(e)).unwrap_err())
        };
        assert!(
            err(
                ServeArgs {
                    listen: Some("nope".into()),
                    ..Default::default()
                },
                &[]
            )
            .contains("hint")
        );
        assert!(
            err(
                ServeArgs {
                    advertise_url: Some("localhost:1".into()),
                    ..Default::default()
                },
                &[]
            )
            .contains("http://localhost:1")
        );
        assert!(
            err(
                ServeArgs::default(),
                &[("FRESHET_ROOT_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE")]
            )
            .contains("both")
        );
        assert!(
            err(ServeArgs::default(), &[("FRESHET_ACCOUNT_ID", "12")])
                .contains("FRESHET_ACCOUNT_ID")
        );

        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("bad.toml");
        std::fs::write(&file, "listne = \"x\"\n").unwrap();
        assert!(
            err(
                ServeArgs {
                    config: Some(file),
                    ..Default::default()
                },
                &[]
            )
            .contains("unknown field")
        );
    }
}
