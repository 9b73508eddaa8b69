//! Starts a real `freshet serve` process and builds AWS SDK clients pointed at it.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const ACCESS_KEY_ID: &str = "AKIAIOSFODNN7EXAMPLE";
pub const SECRET_ACCESS_KEY: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
pub const ACCOUNT_ID: &str = "123456789012";

/// A running server. Killed on drop; `stop` shuts it down gracefully.
pub struct Server {
    child: Child,
    pub url: String,
    _tmp: Option<tempfile::TempDir>,
    stderr: Arc<Mutex<String>>,
}

impl Server {
    /// A fresh server with fixed root credentials and account id.
    pub fn start() -> Self {
        Self::start_with(&[])
    }

    /// A fresh server with fixed root credentials and account id, and more `FRESHET_*` settings.
    pub fn start_with(extra: &[(&str, &str)]) -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let mut env = fixed_env();
        env.extend_from_slice(extra);
        let mut s = Self::start_in(tmp.path(), &env);
        s._tmp = Some(tmp);
        s
    }

    /// A server on `data_dir` with the given `FRESHET_*` environment.
    pub fn start_in(data_dir: &Path, env: &[(&str, &str)]) -> Self {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_freshet"));
        cmd.args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data_dir)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("spawning freshet serve");
        let stderr = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let reader = BufReader::new(child.stderr.take().unwrap());
        let log = Arc::clone(&stderr);
        std::thread::spawn(move || {
            for line in reader.lines().map_while(Result::ok) {
                if let Some(url) = line.strip_prefix("freshet: listening on ") {
                    let _ = tx.send(url.to_owned());
                }
                log.lock().unwrap().push_str(&format!("{line}\n"));
            }
        });
        let url = rx
            .recv_timeout(Duration::from_secs(30))
            .unwrap_or_else(|_| {
                panic!(
                    "freshet did not start listening; its stderr:\n{}",
                    stderr.lock().unwrap()
                )
            });
        Self {
            child,
            url,
            _tmp: None,
            stderr,
        }
    }

    /// The CPU time the server has used, in clock ticks (Linux's `/proc/<pid>/stat`: user plus system).
    pub fn cpu_ticks(&self) -> u64 {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).unwrap();
        // The command name (field 2) is in parentheses; utime and stime are fields 14 and 15.
        let after_name = &stat[stat.rfind(')').unwrap() + 2..];
        let fields: Vec<&str> = after_name.split(' ').collect();
        fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
    }

    /// Asserts that the server is idle: it uses under a tenth of one core for a second. A query left running
    /// keeps a core busy.
    pub fn assert_idle(&self) {
        std::thread::sleep(Duration::from_millis(200));
        let before = self.cpu_ticks();
        std::thread::sleep(Duration::from_secs(1));
        let used = self.cpu_ticks() - before;
        assert!(
            used < 10,
            "the server used {used} ticks of CPU in one idle second"
        );
    }

    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Sends SIGTERM and waits for a clean exit.
    pub fn stop(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "freshet did not stop within 10 s of SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub async fn sdk_config(&self, region: &str) -> aws_config::SdkConfig {
        sdk_config(&self.url, region, ACCESS_KEY_ID, SECRET_ACCESS_KEY).await
    }

    pub async fn timestream(&self) -> aws_sdk_timestreamwrite::Client {
        aws_sdk_timestreamwrite::Client::new(&self.sdk_config("us-east-1").await)
    }

    pub async fn query(&self) -> aws_sdk_timestreamquery::Client {
        aws_sdk_timestreamquery::Client::new(&self.sdk_config("us-east-1").await)
    }

    pub async fn sts(&self) -> aws_sdk_sts::Client {
        aws_sdk_sts::Client::new(&self.sdk_config("us-east-1").await)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn fixed_env() -> Vec<(&'static str, &'static str)> {
    vec![
        ("FRESHET_ROOT_ACCESS_KEY_ID", ACCESS_KEY_ID),
        ("FRESHET_ROOT_SECRET_ACCESS_KEY", SECRET_ACCESS_KEY),
        ("FRESHET_ACCOUNT_ID", ACCOUNT_ID),
        ("FRESHET_ROOT_EMAIL", "root@example.com"),
        ("FRESHET_ROOT_PASSWORD", "correct horse battery staple"),
    ]
}

/// An SDK config with static credentials, no retries (so an error shows at once) and the server as endpoint.
pub async fn sdk_config(url: &str, region: &str, key: &str, secret: &str) -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(url)
        .region(aws_config::Region::new(region.to_owned()))
        .credentials_provider(aws_credential_types::Credentials::new(
            key, secret, None, None, "test",
        ))
        .retry_config(aws_config::retry::RetryConfig::disabled())
        .load()
        .await
}

/// A unique, valid Timestream name.
pub fn unique(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "{prefix}_{}_{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    )
}

/// Plain HTTP GET of a path on the server: (status, body).
pub fn http_get(url: &str, path: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let addr = url.trim_start_matches("http://");
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    let status = text.split(' ').nth(1).unwrap().parse().unwrap();
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}
