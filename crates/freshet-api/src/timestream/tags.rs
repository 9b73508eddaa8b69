//! Tagging: TagResource, UntagResource and ListTagsForResource on database and table ARNs.

use freshet_meta::{Error as MetaError, Tag};
use serde::Deserialize;
use serde_json::{Value, json};

use super::database::{self, scope};
use super::table;
use super::validate::Violations;
use super::wire::{PageToken, WireTag, tags_json};
use crate::AppState;
use crate::auth::VerifiedRequest;
use crate::error::ApiError;

/// Tags a resource may hold, as for most AWS resources.
pub const MAX_TAGS_PER_RESOURCE: usize = 50;

/// Validates a `Tags` list member by member and returns it as records.
pub fn validate_tags(v: &mut Violations, tags: &[WireTag], path: &str) -> Vec<Tag> {
    v.count(tags, path, 0, 200, || format!("[{} tags]", tags.len()));
    let mut out = Vec::with_capacity(tags.len());
    for (i, t) in tags.iter().enumerate() {
        let key_path = format!("{path}.{}.member.key", i + 1);
        let value_path = format!("{path}.{}.member.value", i + 1);
        if let Some(k) = v.required(&t.key, &key_path) {
            v.length(k, &key_path, 1, 128);
        }
        if let Some(val) = v.required(&t.value, &value_path) {
            v.length(val, &value_path, 0, 256);
        }
        if let (Some(key), Some(value)) = (&t.key, &t.value) {
            out.push(Tag {
                key: key.clone(),
                value: value.clone(),
            });
        }
    }
    out
}

/// Stores tags on a resource known to exist, refusing more than the per-resource limit.
pub async fn apply(app: &AppState, arn: &str, tags: &[Tag]) -> Result<(), ApiError> {
    if let Some(t) = tags
        .iter()
        .find(|t| t.key.to_ascii_lowercase().starts_with("aws:"))
    {
        return Err(ApiError::Validation(format!(
            "Tag key {} is invalid: keys starting with 'aws:' are reserved for AWS use.",
            t.key
        )));
    }
    if tags.is_empty() {
        return Ok(());
    }
    app.store
        .tag_resource(arn, tags, MAX_TAGS_PER_RESOURCE)
        .await
        .map_err(|e| match e {
            MetaError::Conflict(_) => ApiError::ServiceQuotaExceeded(format!(
                "A resource can have at most {MAX_TAGS_PER_RESOURCE} tags."
            )),
            e => e.into(),
        })
}

/// Resolves a Timestream ARN to an existing resource of the caller's account and region, or `ResourceNotFound`.
async fn existing_resource(
    app: &AppState,
    req: &VerifiedRequest,
    arn: &str,
) -> Result<String, ApiError> {
    let unknown = || ApiError::NotFound(format!("The resource {arn} does not exist."));
    let scope = scope(req);
    let prefix = format!("arn:aws:timestream:{}:{}:", scope.region, scope.account);
    let rest = arn.strip_prefix(&prefix).ok_or_else(unknown)?;
    let parts: Vec<&str> = rest.split('/').collect();
    match parts.as_slice() {
        ["database", db] => {
            app.store
                .database(&scope, db)
                .await?
                .ok_or_else(|| database::not_found(db))?;
        }
        ["database", db, "table", t] => {
            app.store
                .database(&scope, db)
                .await?
                .ok_or_else(|| database::not_found(db))?;
            app.store
                .table(&scope, db, t)
                .await?
                .ok_or_else(|| table::not_found(t))?;
        }
        _ => return Err(unknown()),
    }
    Ok(arn.to_owned())
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TagResource {
    #[serde(rename = "ResourceARN")]
    resource_arn: Option<String>,
    tags: Option<Vec<WireTag>>,
}

pub async fn tag(app: &AppState, req: &VerifiedRequest, r: TagResource) -> Result<Value, ApiError> {
    let mut v = Violations::default();
    if let Some(a) = v.required(&r.resource_arn, "resourceARN") {
        v.length(a, "resourceARN", 1, 2048);
    }
    v.required(&r.tags, "tags");
    let tags = validate_tags(&mut v, r.tags.as_deref().unwrap_or_default(), "tags");
    v.finish()?;
    let arn = existing_resource(app, req, r.resource_arn.as_deref().unwrap_or_default()).await?;
    apply(app, &arn, &tags).await?;
    Ok(json!({}))
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct UntagResource {
    #[serde(rename = "ResourceARN")]
    resource_arn: Option<String>,
    tag_keys: Option<Vec<String>>,
}

pub async fn untag(
    app: &AppState,
    req: &VerifiedRequest,
    r: UntagResource,
) -> Result<Value, ApiError> {
    let mut v = Violations::default();
    if let Some(a) = v.required(&r.resource_arn, "resourceARN") {
        v.length(a, "resourceARN", 1, 2048);
    }
    if let Some(keys) = v.required(&r.tag_keys, "tagKeys") {
        v.count(keys, "tagKeys", 0, 200, || format!("[{} keys]", keys.len()));
        for (i, k) in keys.iter().enumerate() {
            v.length(k, format!("tagKeys.{}.member", i + 1), 1, 128);
        }
    }
    v.finish()?;
    let arn = existing_resource(app, req, r.resource_arn.as_deref().unwrap_or_default()).await?;
    app.store
        .untag_resource(&arn, r.tag_keys.as_deref().unwrap_or_default())
        .await?;
    Ok(json!({}))
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListTagsForResource {
    #[serde(rename = "ResourceARN")]
    resource_arn: Option<String>,
    /// Query-side model only (1–200); the write-side model has no paging.
    max_results: Option<i64>,
    next_token: Option<String>,
}

pub async fn list(
    app: &AppState,
    req: &VerifiedRequest,
    r: ListTagsForResource,
) -> Result<Value, ApiError> {
    let mut v = Violations::default();
    if let Some(a) = v.required(&r.resource_arn, "resourceARN") {
        v.length(a, "resourceARN", 1, 2048);
    }
    if let Some(m) = r.max_results {
        v.range(m, "maxResults", 1, 200);
    }
    v.finish()?;
    let arn = existing_resource(app, req, r.resource_arn.as_deref().unwrap_or_default()).await?;
    let all = app.store.tags(&arn).await?;
    let start = match &r.next_token {
        Some(t) => {
            let after = PageToken::decode(t, "ListTagsForResource", 1)?
                .after
                .pop()
                .unwrap_or_default();
            all.iter().position(|t| t.key > after).unwrap_or(all.len())
        }
        None => 0,
    };
    let limit = r.max_results.map_or(all.len(), |m| m as usize);
    let page = &all[start..(start + limit).min(all.len())];
    let mut out = json!({ "Tags": tags_json(page) });
    if start + page.len() < all.len()
        && let Some(last) = page.last()
    {
        out["NextToken"] = json!(
            PageToken {
                op: "ListTagsForResource".into(),
                after: vec![last.key.clone()]
            }
            .encode()
        );
    }
    Ok(out)
}
