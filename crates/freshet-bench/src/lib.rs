//! Shared pieces of the benchmark binaries: starting a release `freshet serve`, measuring its memory and disk use.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Context, bail};

pub const ACCESS_KEY_ID: &str = "AKIAIOSFODNN7EXAMPLE";
pub const SECRET_ACCESS_KEY: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";

/// A `freshet serve` child process on a temporary data directory.
pub struct Server {
    child: Child,
    pub url: String,
    pub data_dir: PathBuf,
    _tmp: tempfile::TempDir,
}

impl Server {
    /// Starts `bin serve` on port 0 with fixed root credentials and extra `FRESHET_*` settings.
    pub fn start(bin: &Path, extra_env: &[(&str, &str)]) -> anyhow::Result<Self> {
        let tmp = tempfile::tempdir()?;
        let data_dir = tmp.path().to_path_buf();
        let mut cmd = Command::new(bin);
        cmd.args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(&data_dir)
            .env("FRESHET_ROOT_ACCESS_KEY_ID", ACCESS_KEY_ID)
            .env("FRESHET_ROOT_SECRET_ACCESS_KEY", SECRET_ACCESS_KEY)
            .env("FRESHET_ACCOUNT_ID", "123456789012")
            .env("FRESHET_ROOT_PASSWORD", "benchmark-password")
            .env("FRESHET_ROOT_EMAIL", "bench@example.com")
            .env("FRESHET_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (k, v) in extra_env {
            cmd.env(k, v);
        }
        let mut child = cmd
            .spawn()
            .with_context(|| format!("starting {}", bin.display()))?;
        let stderr = child.stderr.take().context("no stderr")?;
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(url) = line.strip_prefix("freshet: listening on ") {
                    let _ = tx.send(url.to_owned());
                } else if line.contains("ERROR") {
                    eprintln!("server: {line}");
                }
            }
        });
        let Ok(url) = rx.recv_timeout(Duration::from_secs(60)) else {
            bail!("{} did not start listening within 60 s", bin.display());
        };
        Ok(Self {
            child,
            url,
            data_dir,
            _tmp: tmp,
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// CPU time (user + system) the server has used so far.
    pub fn cpu_time(&self) -> Option<Duration> {
        cpu_time_of(&format!("/proc/{}/stat", self.pid()))
    }

    /// Peak resident memory of the server so far (VmHWM), in bytes.
    pub fn peak_rss_bytes(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).ok()?;
        let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
        let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
        Some(kb * 1024)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// CPU time (user + system) of this process so far.
pub fn own_cpu_time() -> Option<Duration> {
    cpu_time_of("/proc/self/stat")
}

/// Reads utime + stime from a `/proc/<pid>/stat` file (fields 14 and 15, in clock ticks of 1/100 s on Linux).
fn cpu_time_of(stat: &str) -> Option<Duration> {
    let text = std::fs::read_to_string(stat).ok()?;
    // The command name (field 2) may contain spaces; the fields after it start past the last ')'.
    let rest = &text[text.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(Duration::from_millis(ticks * 10))
}

/// Total size of the files under `dir` whose names end with `suffix` (all files when empty).
pub fn disk_bytes(dir: &Path, suffix: &str) -> u64 {
    let mut total = 0;
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = entry.path();
        if p.is_dir() {
            total += disk_bytes(&p, suffix);
        } else if p.to_string_lossy().ends_with(suffix) {
            total += entry.metadata().map(|m| m.len()).unwrap_or(0);
        }
    }
    total
}

/// The release `freshet` binary next to this benchmark's own executable.
pub fn default_server_bin() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(|d| d.join("freshet")))
        .unwrap_or_else(|| PathBuf::from("target/release/freshet"))
}

/// The `q`-quantile of sorted samples.
pub fn quantile(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() - 1) as f64 * q).round() as usize;
    sorted[i]
}

pub async fn sdk_config(url: &str) -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(url)
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_credential_types::Credentials::new(
            ACCESS_KEY_ID,
            SECRET_ACCESS_KEY,
            None,
            None,
            "bench",
        ))
        .load()
        .await
}
