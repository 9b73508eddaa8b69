//! Decodes `X-Amz-Target` into an `Operation`, which knows its IAM action.

use super::TARGET_PREFIX;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    DescribeEndpoints,
    CreateDatabase,
    DescribeDatabase,
    ListDatabases,
    UpdateDatabase,
    DeleteDatabase,
    CreateTable,
    DescribeTable,
    ListTables,
    UpdateTable,
    DeleteTable,
    TagResource,
    UntagResource,
    ListTagsForResource,
    WriteRecords,
    Query,
    CancelQuery,
    PrepareQuery,
    /// A real Timestream operation this version does not serve yet.
    NotYetImplemented(&'static str),
}

/// Operations of the Timestream write and query models that later work implements.
const LATER: &[&str] = &[
    "CreateBatchLoadTask",
    "DescribeBatchLoadTask",
    "ListBatchLoadTasks",
    "ResumeBatchLoadTask",
    "CreateScheduledQuery",
    "DescribeScheduledQuery",
    "ListScheduledQueries",
    "UpdateScheduledQuery",
    "DeleteScheduledQuery",
    "ExecuteScheduledQuery",
    "DescribeAccountSettings",
    "UpdateAccountSettings",
];

impl Operation {
    pub fn from_target(target: &str) -> Option<Self> {
        use Operation as O;
        let name = target.strip_prefix(TARGET_PREFIX)?;
        Some(match name {
            "DescribeEndpoints" => O::DescribeEndpoints,
            "CreateDatabase" => O::CreateDatabase,
            "DescribeDatabase" => O::DescribeDatabase,
            "ListDatabases" => O::ListDatabases,
            "UpdateDatabase" => O::UpdateDatabase,
            "DeleteDatabase" => O::DeleteDatabase,
            "CreateTable" => O::CreateTable,
            "DescribeTable" => O::DescribeTable,
            "ListTables" => O::ListTables,
            "UpdateTable" => O::UpdateTable,
            "DeleteTable" => O::DeleteTable,
            "TagResource" => O::TagResource,
            "UntagResource" => O::UntagResource,
            "ListTagsForResource" => O::ListTagsForResource,
            "WriteRecords" => O::WriteRecords,
            "Query" => O::Query,
            "CancelQuery" => O::CancelQuery,
            "PrepareQuery" => O::PrepareQuery,
            other => O::NotYetImplemented(LATER.iter().find(|l| **l == other)?),
        })
    }

    pub fn name(self) -> &'static str {
        use Operation as O;
        match self {
            O::DescribeEndpoints => "DescribeEndpoints",
            O::CreateDatabase => "CreateDatabase",
            O::DescribeDatabase => "DescribeDatabase",
            O::ListDatabases => "ListDatabases",
            O::UpdateDatabase => "UpdateDatabase",
            O::DeleteDatabase => "DeleteDatabase",
            O::CreateTable => "CreateTable",
            O::DescribeTable => "DescribeTable",
            O::ListTables => "ListTables",
            O::UpdateTable => "UpdateTable",
            O::DeleteTable => "DeleteTable",
            O::TagResource => "TagResource",
            O::UntagResource => "UntagResource",
            O::ListTagsForResource => "ListTagsForResource",
            O::WriteRecords => "WriteRecords",
            O::Query => "Query",
            O::CancelQuery => "CancelQuery",
            O::PrepareQuery => "PrepareQuery",
            O::NotYetImplemented(name) => name,
        }
    }

    /// The IAM action a policy must allow, e.g. `timestream:CreateTable`.
    pub fn action(self) -> String {
        format!("timestream:{}", self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets() {
        assert_eq!(
            Operation::from_target("Timestream_20181101.CreateTable"),
            Some(Operation::CreateTable)
        );
        assert_eq!(
            Operation::from_target("Timestream_20181101.CreateScheduledQuery").map(Operation::name),
            Some("CreateScheduledQuery")
        );
        assert_eq!(Operation::from_target("Timestream_20181101.Nope"), None);
        assert_eq!(
            Operation::from_target("DynamoDB_20120810.CreateTable"),
            None
        );
        assert_eq!(Operation::CreateTable.action(), "timestream:CreateTable");
    }
}
