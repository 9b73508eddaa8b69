//! STS through `aws-sdk-sts`.

use aws_sdk_sts::error::ProvideErrorMetadata;

use crate::support::{ACCESS_KEY_ID, ACCOUNT_ID, Server, sdk_config};

#[tokio::test]
async fn get_caller_identity_of_root_from_any_region() {
    let server = Server::start();
    let default_region = server.sts().await;
    let other_region = aws_sdk_sts::Client::new(&server.sdk_config("ap-southeast-2").await);
    for sts in [default_region, other_region] {
        let me = sts.get_caller_identity().send().await.unwrap();
        assert_eq!(me.account(), Some(ACCOUNT_ID));
        assert_eq!(
            me.arn(),
            Some(format!("arn:aws:iam::{ACCOUNT_ID}:root").as_str())
        );
        assert_eq!(me.user_id(), Some(ACCOUNT_ID));
    }
}

#[tokio::test]
async fn query_protocol_auth_errors() {
    let server = Server::start();
    let cfg = sdk_config(
        &server.url,
        "us-east-1",
        "AKIAUNKNOWNKEY000000",
        &"x".repeat(40),
    )
    .await;
    let e = aws_sdk_sts::Client::new(&cfg)
        .get_caller_identity()
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.raw_response().map(|r| r.status().as_u16()), Some(403));
    assert_eq!(e.code(), Some("InvalidClientTokenId"));

    let cfg = sdk_config(
        &server.url,
        "us-east-1",
        ACCESS_KEY_ID,
        "not-the-secret-not-the-secret",
    )
    .await;
    let e = aws_sdk_sts::Client::new(&cfg)
        .get_caller_identity()
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.raw_response().map(|r| r.status().as_u16()), Some(403));
    assert_eq!(e.code(), Some("SignatureDoesNotMatch"));
}
