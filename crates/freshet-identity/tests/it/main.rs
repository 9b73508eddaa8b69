//! Bootstrap and key resolution through a real embedded store.

use std::sync::Arc;

use freshet_core::{AccessKeyId, AccountId, PrincipalKind, Secret, SystemClock};
use freshet_identity::{Bootstrap, Identity, MasterKey};
use freshet_meta::{MetadataStore, SqliteStore};

fn identity(store: Arc<SqliteStore>) -> Identity {
    Identity::new(
        store,
        MasterKey::from_bytes(&[3; 32]),
        Arc::new(SystemClock),
    )
}

#[tokio::test]
async fn bootstrap_with_fixed_settings_writes_nothing_and_resolves_the_root_key() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::in_memory().unwrap());
    let id = identity(store.clone());
    let out = id
        .bootstrap(Bootstrap {
            account_id: Some(AccountId::parse("123456789012").unwrap()),
            root_access_key: Some((
                AccessKeyId::parse("AKIAIOSFODNN7EXAMPLE").unwrap(),
                Secret::new(b"wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY".to_vec()),
            )),
            root_email: Some("ops@example.com".into()),
            root_password: Some(Secret::new(b"correct horse".to_vec())),
            credentials_file: dir.path().join("root-credentials.csv"),
        })
        .await
        .unwrap();
    assert_eq!(out.account_id.as_str(), "123456789012");
    assert!(out.credentials_file.is_none());
    assert!(!dir.path().join("root-credentials.csv").exists());

    let key = id
        .resolve_access_key("AKIAIOSFODNN7EXAMPLE")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        key.secret.expose(),
        b"wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
    );
    assert_eq!(key.principal.kind, PrincipalKind::Root);
    assert_eq!(
        key.principal.arn().as_str(),
        "arn:aws:iam::123456789012:root"
    );
    assert!(
        id.resolve_access_key("AKIAUNKNOWNUNKNOWN00")
            .await
            .unwrap()
            .is_none()
    );
    assert!(id.resolve_access_key("not a key").await.unwrap().is_none());

    let stored = store
        .access_key(&key.principal.access_key_id)
        .await
        .unwrap()
        .unwrap();
    assert!(
        !stored.sealed_secret.windows(10).any(|w| w == b"wJalrXUtnF"),
        "the secret is stored sealed"
    );
    let acct = &store.accounts().await.unwrap()[0];
    assert!(acct.root_password_hash.starts_with("$argon2id$"));
}

#[tokio::test]
async fn bootstrap_generates_once_into_a_private_csv() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("root-credentials.csv");
    let store = Arc::new(SqliteStore::in_memory().unwrap());
    let id = identity(store.clone());
    let first = id
        .bootstrap(Bootstrap {
            credentials_file: csv.clone(),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(first.credentials_file.as_deref(), Some(csv.as_path()));
    let text = std::fs::read_to_string(&csv).unwrap();
    let mut lines = text.lines();
    assert_eq!(
        lines.next().unwrap(),
        "User Name,Access key ID,Secret access key,Account ID,Console sign-in email,Console password"
    );
    let fields: Vec<&str> = lines.next().unwrap().split(',').collect();
    assert_eq!(fields[0], "root");
    assert_eq!(fields[3], first.account_id.as_str());
    let key = id.resolve_access_key(fields[1]).await.unwrap().unwrap();
    assert_eq!(key.secret.expose(), fields[2].as_bytes());
    assert_eq!(fields[2].len(), 40);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&csv).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }

    std::fs::remove_file(&csv).unwrap();
    let again = id
        .bootstrap(Bootstrap {
            credentials_file: csv.clone(),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(
        again.account_id, first.account_id,
        "a bootstrapped store is left alone"
    );
    assert!(again.credentials_file.is_none() && !csv.exists());
}
