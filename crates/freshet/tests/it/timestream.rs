//! The Timestream control plane through `aws-sdk-timestreamwrite`: every operation, its defaults and its errors.

use aws_sdk_timestreamwrite::Client;
use aws_sdk_timestreamwrite::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_timestreamwrite::types::{
    MagneticStoreRejectedDataLocation, MagneticStoreWriteProperties, PartitionKey,
    PartitionKeyEnforcementLevel, PartitionKeyType, RetentionProperties, S3Configuration,
    S3EncryptionOption, Schema, Tag,
};

use crate::support::{ACCOUNT_ID, Server, unique};

/// (HTTP status, error code, message) of a failed call.
fn failure<E: ProvideErrorMetadata + std::fmt::Debug>(e: SdkError<E>) -> (u16, String, String) {
    let status = e
        .raw_response()
        .map(|r| r.status().as_u16())
        .unwrap_or_default();
    let code = e.code().unwrap_or_default().to_owned();
    let message = e.message().unwrap_or_default().to_owned();
    (status, code, message)
}

async fn create_db(c: &Client, name: &str) {
    c.create_database()
        .database_name(name)
        .send()
        .await
        .unwrap();
}

#[tokio::test]
async fn databases_create_describe_update_list_delete() {
    let server = Server::start();
    let c = server.timestream().await;
    let name = unique("db");

    let created = c
        .create_database()
        .database_name(&name)
        .send()
        .await
        .unwrap();
    let db = created.database().unwrap();
    assert_eq!(db.database_name(), Some(name.as_str()));
    assert_eq!(
        db.arn(),
        Some(format!("arn:aws:timestream:us-east-1:{ACCOUNT_ID}:database/{name}").as_str())
    );
    assert_eq!(db.table_count(), 0);
    assert!(
        db.kms_key_id()
            .unwrap()
            .starts_with(&format!("arn:aws:kms:us-east-1:{ACCOUNT_ID}:key/"))
    );
    let created_at = db.creation_time().unwrap().secs();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    assert!(
        (created_at - now).abs() < 60,
        "CreationTime is epoch seconds: {created_at} vs {now}"
    );

    let (status, code, msg) = failure(
        c.create_database()
            .database_name(&name)
            .send()
            .await
            .unwrap_err(),
    );
    assert_eq!((status, code.as_str()), (409, "ConflictException"));
    assert!(msg.contains(&name), "{msg}");

    c.create_table()
        .database_name(&name)
        .table_name("tbl")
        .send()
        .await
        .unwrap();
    let described = c
        .describe_database()
        .database_name(&name)
        .send()
        .await
        .unwrap();
    assert_eq!(described.database().unwrap().table_count(), 1);

    let updated = c
        .update_database()
        .database_name(&name)
        .kms_key_id("my-key")
        .send()
        .await
        .unwrap();
    let udb = updated.database().unwrap();
    assert_eq!(udb.kms_key_id(), Some("my-key"));
    assert!(udb.last_updated_time().unwrap() >= udb.creation_time().unwrap());

    let (status, code, msg) = failure(
        c.delete_database()
            .database_name(&name)
            .send()
            .await
            .unwrap_err(),
    );
    assert_eq!(
        (status, code.as_str()),
        (400, "ValidationException"),
        "{msg}"
    );
    c.delete_table()
        .database_name(&name)
        .table_name("tbl")
        .send()
        .await
        .unwrap();
    c.delete_database()
        .database_name(&name)
        .send()
        .await
        .unwrap();

    let (status, code, msg) = failure(
        c.describe_database()
            .database_name(&name)
            .send()
            .await
            .unwrap_err(),
    );
    assert_eq!((status, code.as_str()), (404, "ResourceNotFoundException"));
    assert_eq!(msg, format!("The database {name} does not exist."));
    let (_, code, _) = failure(
        c.delete_database()
            .database_name(&name)
            .send()
            .await
            .unwrap_err(),
    );
    assert_eq!(code, "ResourceNotFoundException");
    let (_, code, _) = failure(
        c.update_database()
            .database_name(&name)
            .kms_key_id("k")
            .send()
            .await
            .unwrap_err(),
    );
    assert_eq!(code, "ResourceNotFoundException");
}

#[tokio::test]
async fn names_and_ranges_are_validated_like_aws() {
    let server = Server::start();
    let c = server.timestream().await;
    let check = |r: Result<(), (u16, String, String)>, expect: &str| {
        let (status, code, msg) = r.unwrap_err();
        assert_eq!(
            (status, code.as_str()),
            (400, "ValidationException"),
            "{msg}"
        );
        assert_eq!(msg, expect);
    };
    check(
        c.create_database()
            .database_name("a b")
            .send()
            .await
            .map(|_| ())
            .map_err(failure),
        "1 validation error detected: Value 'a b' at 'databaseName' failed to satisfy constraint: \
         Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+",
    );
    check(
        c.create_database()
            .database_name("ab")
            .send()
            .await
            .map(|_| ())
            .map_err(failure),
        "1 validation error detected: Value 'ab' at 'databaseName' failed to satisfy constraint: \
         Member must have length greater than or equal to 3",
    );
    let long = "x".repeat(257);
    check(
        c.create_database()
            .database_name(&long)
            .send()
            .await
            .map(|_| ())
            .map_err(failure),
        &format!(
            "1 validation error detected: Value '{long}' at 'databaseName' failed to satisfy constraint: \
             Member must have length less than or equal to 256"
        ),
    );
    check(
        c.list_databases()
            .max_results(21)
            .send()
            .await
            .map(|_| ())
            .map_err(failure),
        "1 validation error detected: Value '21' at 'maxResults' failed to satisfy constraint: \
         Member must have value less than or equal to 20",
    );
    let db = unique("db");
    create_db(&c, &db).await;
    let retention = RetentionProperties::builder()
        .memory_store_retention_period_in_hours(0)
        .magnetic_store_retention_period_in_days(73_001)
        .build()
        .unwrap();
    check(
        c.create_table()
            .database_name(&db)
            .table_name("bad")
            .retention_properties(retention)
            .send()
            .await
            .map(|_| ())
            .map_err(failure),
        "2 validation errors detected: Value '0' at 'retentionProperties.memoryStoreRetentionPeriodInHours' \
         failed to satisfy constraint: Member must have value greater than or equal to 1; \
         Value '73001' at 'retentionProperties.magneticStoreRetentionPeriodInDays' failed to satisfy constraint: \
         Member must have value less than or equal to 73000",
    );
    let two_keys = Schema::builder()
        .composite_partition_key(
            PartitionKey::builder()
                .r#type(PartitionKeyType::Dimension)
                .name("a")
                .build()
                .unwrap(),
        )
        .composite_partition_key(
            PartitionKey::builder()
                .r#type(PartitionKeyType::Dimension)
                .name("b")
                .build()
                .unwrap(),
        )
        .build();
    let (_, code, msg) = c
        .create_table()
        .database_name(&db)
        .table_name("two_keys")
        .schema(two_keys)
        .send()
        .await
        .map_err(failure)
        .unwrap_err();
    assert_eq!(code, "ValidationException");
    assert!(
        msg.starts_with("You have specified too many partition keys"),
        "{msg}"
    );
    let bad_enum = MagneticStoreWriteProperties::builder()
        .enable_magnetic_store_writes(true)
        .magnetic_store_rejected_data_location(
            MagneticStoreRejectedDataLocation::builder()
                .s3_configuration(
                    S3Configuration::builder()
                        .bucket_name("rejects")
                        .encryption_option(S3EncryptionOption::from("SSE_NONE"))
                        .build(),
                )
                .build(),
        )
        .build()
        .unwrap();
    check(
        c.create_table()
            .database_name(&db)
            .table_name("enum")
            .magnetic_store_write_properties(bad_enum)
            .send()
            .await
            .map(|_| ())
            .map_err(failure),
        "1 validation error detected: Value 'SSE_NONE' at \
         'magneticStoreWriteProperties.magneticStoreRejectedDataLocation.s3Configuration.encryptionOption' \
         failed to satisfy constraint: Member must satisfy enum value set: [SSE_S3, SSE_KMS]",
    );
}

#[tokio::test]
async fn tables_have_aws_defaults_and_update() {
    let server = Server::start();
    let c = server.timestream().await;
    let db = unique("db");
    create_db(&c, &db).await;

    let (status, code, msg) = failure(
        c.create_table()
            .database_name("missing_db")
            .table_name("tbl")
            .send()
            .await
            .unwrap_err(),
    );
    assert_eq!(
        (status, code.as_str(), msg.as_str()),
        (
            404,
            "ResourceNotFoundException",
            "The database missing_db does not exist."
        )
    );

    let t = c
        .create_table()
        .database_name(&db)
        .table_name("cpu")
        .send()
        .await
        .unwrap();
    let t = t.table().unwrap();
    assert_eq!(
        t.arn(),
        Some(format!("arn:aws:timestream:us-east-1:{ACCOUNT_ID}:database/{db}/table/cpu").as_str())
    );
    assert_eq!(t.table_status().map(|s| s.as_str()), Some("ACTIVE"));
    let r = t.retention_properties().unwrap();
    assert_eq!(
        (
            r.memory_store_retention_period_in_hours(),
            r.magnetic_store_retention_period_in_days()
        ),
        (6, 73_000)
    );
    assert!(
        !t.magnetic_store_write_properties()
            .unwrap()
            .enable_magnetic_store_writes()
    );
    let keys = t.schema().unwrap().composite_partition_key();
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0].r#type(), &PartitionKeyType::Measure);
    assert_eq!(keys[0].name(), None);

    let (status, code, _) = failure(
        c.create_table()
            .database_name(&db)
            .table_name("cpu")
            .send()
            .await
            .unwrap_err(),
    );
    assert_eq!((status, code.as_str()), (409, "ConflictException"));

    let schema = |level| {
        Schema::builder()
            .composite_partition_key(
                PartitionKey::builder()
                    .r#type(PartitionKeyType::Dimension)
                    .name("host")
                    .enforcement_in_record(level)
                    .build()
                    .unwrap(),
            )
            .build()
    };
    let s3 = S3Configuration::builder()
        .bucket_name("rejected-data")
        .object_key_prefix("freshet")
        .encryption_option(S3EncryptionOption::SseS3)
        .build();
    let created = c
        .create_table()
        .database_name(&db)
        .table_name("mem")
        .retention_properties(
            RetentionProperties::builder()
                .memory_store_retention_period_in_hours(24)
                .magnetic_store_retention_period_in_days(30)
                .build()
                .unwrap(),
        )
        .magnetic_store_write_properties(
            MagneticStoreWriteProperties::builder()
                .enable_magnetic_store_writes(true)
                .magnetic_store_rejected_data_location(
                    MagneticStoreRejectedDataLocation::builder()
                        .s3_configuration(s3.clone())
                        .build(),
                )
                .build()
                .unwrap(),
        )
        .schema(schema(PartitionKeyEnforcementLevel::Required))
        .send()
        .await
        .unwrap();
    let got = c
        .describe_table()
        .database_name(&db)
        .table_name("mem")
        .send()
        .await
        .unwrap();
    assert_eq!(
        got.table(),
        created.table(),
        "describe returns what create returned"
    );
    let mem = got.table().unwrap();
    let m = mem.magnetic_store_write_properties().unwrap();
    assert!(m.enable_magnetic_store_writes());
    assert_eq!(
        m.magnetic_store_rejected_data_location()
            .unwrap()
            .s3_configuration(),
        Some(&s3)
    );
    assert_eq!(
        mem.schema().unwrap().composite_partition_key()[0].enforcement_in_record(),
        Some(&PartitionKeyEnforcementLevel::Required)
    );

    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let updated = c
        .update_table()
        .database_name(&db)
        .table_name("mem")
        .retention_properties(
            RetentionProperties::builder()
                .memory_store_retention_period_in_hours(48)
                .magnetic_store_retention_period_in_days(365)
                .build()
                .unwrap(),
        )
        .schema(schema(PartitionKeyEnforcementLevel::Optional))
        .send()
        .await
        .unwrap();
    let u = updated.table().unwrap();
    assert_eq!(
        u.retention_properties()
            .unwrap()
            .memory_store_retention_period_in_hours(),
        48
    );
    assert_eq!(
        u.schema().unwrap().composite_partition_key()[0].enforcement_in_record(),
        Some(&PartitionKeyEnforcementLevel::Optional)
    );
    assert!(u.last_updated_time().unwrap() > u.creation_time().unwrap());
    assert!(
        u.magnetic_store_write_properties()
            .unwrap()
            .enable_magnetic_store_writes(),
        "untouched settings stay"
    );

    let renamed = Schema::builder()
        .composite_partition_key(
            PartitionKey::builder()
                .r#type(PartitionKeyType::Dimension)
                .name("region")
                .build()
                .unwrap(),
        )
        .build();
    let (_, code, _) = failure(
        c.update_table()
            .database_name(&db)
            .table_name("mem")
            .schema(renamed)
            .send()
            .await
            .unwrap_err(),
    );
    assert_eq!(
        code, "ValidationException",
        "the partition key's name cannot change"
    );

    let (status, code, msg) = failure(
        c.describe_table()
            .database_name(&db)
            .table_name("nope")
            .send()
            .await
            .unwrap_err(),
    );
    assert_eq!(
        (status, code.as_str(), msg.as_str()),
        (
            404,
            "ResourceNotFoundException",
            "The table nope does not exist."
        )
    );
    let (_, code, _) = failure(
        c.update_table()
            .database_name(&db)
            .table_name("nope")
            .send()
            .await
            .unwrap_err(),
    );
    assert_eq!(code, "ResourceNotFoundException");
    c.delete_table()
        .database_name(&db)
        .table_name("mem")
        .send()
        .await
        .unwrap();
    let (_, code, _) = failure(
        c.delete_table()
            .database_name(&db)
            .table_name("mem")
            .send()
            .await
            .unwrap_err(),
    );
    assert_eq!(code, "ResourceNotFoundException");
}

#[tokio::test]
async fn listings_page_through_everything_once() {
    let server = Server::start();
    let c = server.timestream().await;
    let mut dbs: Vec<String> = (0..5).map(|i| format!("page_db_{i}")).collect();
    for d in &dbs {
        create_db(&c, d).await;
    }
    for t in ["t1x", "t2x", "t3x"] {
        c.create_table()
            .database_name(&dbs[0])
            .table_name(t)
            .send()
            .await
            .unwrap();
    }
    c.create_table()
        .database_name(&dbs[1])
        .table_name("other")
        .send()
        .await
        .unwrap();

    // The SDK's paginator follows NextToken.
    let pages: Vec<_> = c
        .list_databases()
        .max_results(2)
        .into_paginator()
        .send()
        .collect::<Vec<_>>()
        .await;
    assert_eq!(pages.len(), 3);
    let mut seen: Vec<String> = pages
        .into_iter()
        .flat_map(|p| {
            p.unwrap()
                .databases()
                .iter()
                .map(|d| d.database_name().unwrap().to_owned())
                .collect::<Vec<_>>()
        })
        .collect();
    seen.sort();
    dbs.sort();
    assert_eq!(seen, dbs);

    let listed = c.list_databases().send().await.unwrap();
    let first = listed
        .databases()
        .iter()
        .find(|d| d.database_name() == Some(dbs[0].as_str()))
        .unwrap();
    assert_eq!(first.table_count(), 3, "ListDatabases fills TableCount");
    assert!(listed.next_token().is_none());

    let mut tables = Vec::new();
    let mut token = None;
    loop {
        let page = c
            .list_tables()
            .database_name(&dbs[0])
            .max_results(1)
            .set_next_token(token)
            .send()
            .await
            .unwrap();
        tables.extend(
            page.tables()
                .iter()
                .map(|t| t.table_name().unwrap().to_owned()),
        );
        token = page.next_token().map(str::to_owned);
        if token.is_none() {
            break;
        }
    }
    assert_eq!(tables, ["t1x", "t2x", "t3x"]);
    let all = c.list_tables().send().await.unwrap();
    assert_eq!(
        all.tables().len(),
        4,
        "without DatabaseName, tables of every database"
    );

    let (_, code, _) = failure(
        c.list_tables()
            .database_name("nope_db")
            .send()
            .await
            .unwrap_err(),
    );
    assert_eq!(code, "ResourceNotFoundException");
    let (status, code, _) = failure(
        c.list_databases()
            .next_token("not-a-token")
            .send()
            .await
            .unwrap_err(),
    );
    assert_eq!((status, code.as_str()), (400, "ValidationException"));
}

#[tokio::test]
async fn tags_on_databases_and_tables() {
    let server = Server::start();
    let c = server.timestream().await;
    let db = unique("db");
    let tag = |k: &str, v: &str| Tag::builder().key(k).value(v).build().unwrap();
    let arn = c
        .create_database()
        .database_name(&db)
        .tags(tag("team", "ops"))
        .send()
        .await
        .unwrap()
        .database()
        .unwrap()
        .arn()
        .unwrap()
        .to_owned();
    let listed = c
        .list_tags_for_resource()
        .resource_arn(&arn)
        .send()
        .await
        .unwrap();
    assert_eq!(listed.tags(), [tag("team", "ops")]);

    c.tag_resource()
        .resource_arn(&arn)
        .tags(tag("env", "dev"))
        .tags(tag("team", "data"))
        .send()
        .await
        .unwrap();
    let listed = c
        .list_tags_for_resource()
        .resource_arn(&arn)
        .send()
        .await
        .unwrap();
    assert_eq!(listed.tags(), [tag("env", "dev"), tag("team", "data")]);
    c.untag_resource()
        .resource_arn(&arn)
        .tag_keys("env")
        .send()
        .await
        .unwrap();
    assert_eq!(
        c.list_tags_for_resource()
            .resource_arn(&arn)
            .send()
            .await
            .unwrap()
            .tags(),
        [tag("team", "data")]
    );

    let table_arn = c
        .create_table()
        .database_name(&db)
        .table_name("tagged")
        .tags(tag("k", ""))
        .send()
        .await
        .unwrap()
        .table()
        .unwrap()
        .arn()
        .unwrap()
        .to_owned();
    assert_eq!(
        c.list_tags_for_resource()
            .resource_arn(&table_arn)
            .send()
            .await
            .unwrap()
            .tags(),
        [tag("k", "")]
    );
    c.delete_table()
        .database_name(&db)
        .table_name("tagged")
        .send()
        .await
        .unwrap();
    let (status, code, _) = failure(
        c.list_tags_for_resource()
            .resource_arn(&table_arn)
            .send()
            .await
            .unwrap_err(),
    );
    assert_eq!((status, code.as_str()), (404, "ResourceNotFoundException"));
    c.create_table()
        .database_name(&db)
        .table_name("tagged")
        .send()
        .await
        .unwrap();
    assert!(
        c.list_tags_for_resource()
            .resource_arn(&table_arn)
            .send()
            .await
            .unwrap()
            .tags()
            .is_empty(),
        "a recreated table does not inherit the old tags"
    );

    let (_, code, _) = failure(
        c.tag_resource()
            .resource_arn(&arn)
            .tags(tag("aws:reserved", "x"))
            .send()
            .await
            .unwrap_err(),
    );
    assert_eq!(code, "ValidationException");
    let (_, code, _) = failure(
        c.tag_resource()
            .resource_arn("arn:aws:timestream:us-east-1:999999999999:database/x")
            .tags(tag("a", "b"))
            .send()
            .await
            .unwrap_err(),
    );
    assert_eq!(
        code, "ResourceNotFoundException",
        "another account's resources are invisible"
    );
    let too_many: Vec<Tag> = (0..51).map(|i| tag(&format!("k{i}"), "v")).collect();
    let (status, code, _) = failure(
        c.tag_resource()
            .resource_arn(&arn)
            .set_tags(Some(too_many))
            .send()
            .await
            .unwrap_err(),
    );
    assert_eq!(
        (status, code.as_str()),
        (402, "ServiceQuotaExceededException")
    );
}

#[tokio::test]
async fn resources_are_scoped_by_region() {
    let server = Server::start();
    let east = server.timestream().await;
    let west = Client::new(&server.sdk_config("eu-west-1").await);
    let db = unique("db");
    create_db(&east, &db).await;
    let (_, code, _) = failure(
        west.describe_database()
            .database_name(&db)
            .send()
            .await
            .unwrap_err(),
    );
    assert_eq!(code, "ResourceNotFoundException");
    let made = west
        .create_database()
        .database_name(&db)
        .send()
        .await
        .unwrap();
    assert_eq!(
        made.database().unwrap().arn(),
        Some(format!("arn:aws:timestream:eu-west-1:{ACCOUNT_ID}:database/{db}").as_str())
    );
    assert!(
        west.list_databases()
            .send()
            .await
            .unwrap()
            .databases()
            .len()
            == 1
    );
}

#[tokio::test]
async fn describe_endpoints_advertises_the_server_with_its_scheme() {
    let server = Server::start();
    let c = server.timestream().await;
    let out = c.describe_endpoints().send().await.unwrap();
    let e = &out.endpoints()[0];
    assert_eq!(e.address(), server.url);
    assert_eq!(e.cache_period_in_minutes(), 1440);
}

#[tokio::test]
async fn wrong_credentials_get_aws_errors() {
    let server = Server::start();
    let cfg = crate::support::sdk_config(
        &server.url,
        "us-east-1",
        "AKIAUNKNOWNKEY000000",
        "x".repeat(40).as_str(),
    )
    .await;
    let (status, code, msg) = failure(Client::new(&cfg).list_databases().send().await.unwrap_err());
    assert_eq!(
        (status, code.as_str()),
        (400, "UnrecognizedClientException")
    );
    assert_eq!(
        msg,
        "The security token included in the request is invalid."
    );

    let cfg = crate::support::sdk_config(
        &server.url,
        "us-east-1",
        crate::support::ACCESS_KEY_ID,
        "wrong-secret-wrong-secret",
    )
    .await;
    let (status, code, msg) = failure(Client::new(&cfg).list_databases().send().await.unwrap_err());
    assert_eq!((status, code.as_str()), (400, "InvalidSignatureException"));
    assert!(
        msg.starts_with("The request signature we calculated does not match"),
        "{msg}"
    );
}
