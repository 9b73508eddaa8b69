//! The server process itself: health, metrics, request ids, bootstrap, restarts and graceful shutdown.

use crate::support::{ACCESS_KEY_ID, Server, fixed_env, http_get, sdk_config};

#[tokio::test]
async fn health_metrics_and_request_ids() {
    let server = Server::start();
    let (status, body) = http_get(&server.url, "/health");
    assert_eq!((status, body.as_str()), (200, r#"{"status":"ok"}"#));

    let c = server.timestream().await;
    let out = c.list_databases().send().await.unwrap();
    use aws_sdk_timestreamwrite::operation::RequestId;
    let id = out.request_id().expect("x-amzn-RequestId header");
    assert_eq!(id.len(), 36, "{id}");
    let _ = c.describe_database().database_name("nope").send().await;

    let (status, metrics) = http_get(&server.url, "/metrics");
    assert_eq!(status, 200);
    assert!(
        metrics.contains(r#"freshet_api_requests_total{operation="ListDatabases",status="200"} 1"#),
        "{metrics}"
    );
    assert!(
        metrics
            .contains(r#"freshet_api_requests_total{operation="DescribeDatabase",status="404"} 1"#),
        "{metrics}"
    );
    assert!(
        metrics.contains("freshet_api_request_duration_seconds_bucket"),
        "{metrics}"
    );
}

#[tokio::test]
async fn data_survives_a_graceful_restart() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_in(dir.path(), &fixed_env());
    server
        .timestream()
        .await
        .create_database()
        .database_name("kept_db")
        .send()
        .await
        .unwrap();
    let w = server.timestream().await;
    w.create_table()
        .database_name("kept_db")
        .table_name("kept")
        .send()
        .await
        .unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis();
    w.write_records()
        .database_name("kept_db")
        .table_name("kept")
        .records(
            aws_sdk_timestreamwrite::types::Record::builder()
                .dimensions(
                    aws_sdk_timestreamwrite::types::Dimension::builder()
                        .name("host")
                        .value("a")
                        .build()
                        .unwrap(),
                )
                .measure_name("cpu")
                .measure_value("1.5")
                .measure_value_type(aws_sdk_timestreamwrite::types::MeasureValueType::Double)
                .time(now.to_string())
                .build(),
        )
        .send()
        .await
        .unwrap();
    let status = server.stop();
    assert!(status.success(), "SIGTERM ends freshet cleanly: {status:?}");
    // The buffered row was persisted on the way out, so nothing is left to replay.
    let parquet = std::fs::read_dir(dir.path().join("objects/tables"))
        .unwrap()
        .flat_map(|t| std::fs::read_dir(t.unwrap().path()).unwrap())
        .count();
    assert_eq!(parquet, 1, "one data file written at shutdown");

    let server = Server::start_in(dir.path(), &fixed_env());
    let db = server
        .timestream()
        .await
        .describe_database()
        .database_name("kept_db")
        .send()
        .await
        .unwrap();
    assert_eq!(db.database().unwrap().database_name(), Some("kept_db"));
    let out = server
        .query()
        .await
        .query()
        .query_string("SELECT measure_value::double FROM kept_db.kept")
        .send()
        .await
        .unwrap();
    assert_eq!(out.rows()[0].data()[0].scalar_value(), Some("1.5"));
}

#[tokio::test]
async fn first_start_generates_root_credentials_once() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_in(dir.path(), &[]);
    let csv_path = dir.path().join("root-credentials.csv");
    assert!(
        server.stderr().contains(&csv_path.display().to_string()),
        "the path is printed:\n{}",
        server.stderr()
    );
    let text = std::fs::read_to_string(&csv_path).unwrap();
    let row: Vec<&str> = text.lines().nth(1).unwrap().split(',').collect();
    let (key, secret, account) = (row[1], row[2], row[3]);
    assert!(
        key.starts_with("AKIA") && secret.len() == 40 && account.len() == 12,
        "{row:?}"
    );
    assert!(
        !server.stderr().contains(secret),
        "the secret is never logged"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&csv_path).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    let master_key = std::fs::read(dir.path().join("master.key")).unwrap();
    assert_eq!(master_key.len(), 32);
    let db = std::fs::read(dir.path().join("metadata.sqlite")).unwrap();
    assert!(
        !db.windows(secret.len()).any(|w| w == secret.as_bytes()),
        "the secret is not stored in plaintext"
    );

    let cfg = sdk_config(&server.url, "us-east-1", key, secret).await;
    let me = aws_sdk_sts::Client::new(&cfg)
        .get_caller_identity()
        .send()
        .await
        .unwrap();
    assert_eq!(me.account(), Some(account));

    drop(server);
    std::fs::remove_file(&csv_path).unwrap();
    let again = Server::start_in(dir.path(), &[]);
    assert!(
        !csv_path.exists(),
        "a bootstrapped data dir generates nothing new"
    );
    let cfg = sdk_config(&again.url, "us-east-1", key, secret).await;
    aws_sdk_sts::Client::new(&cfg)
        .get_caller_identity()
        .send()
        .await
        .unwrap();
    let cfg = sdk_config(
        &again.url,
        "us-east-1",
        ACCESS_KEY_ID,
        "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    )
    .await;
    assert!(
        aws_sdk_sts::Client::new(&cfg)
            .get_caller_identity()
            .send()
            .await
            .is_err(),
        "only the generated key works"
    );
}
