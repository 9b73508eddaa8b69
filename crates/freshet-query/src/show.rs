//! `SHOW DATABASES`, `SHOW TABLES`, `SHOW MEASURES` and `DESCRIBE`: Timestream's catalog statements, answered from the
//! metadata store and the tables' schemas rather than by DataFusion.

use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, ListBuilder, RecordBatch, StringArray, StringBuilder, StructBuilder,
};
use datafusion::arrow::datatypes::{DataType, Field, Fields, Schema, SchemaRef};
use freshet_meta::{MetadataStore, Scope};
use freshet_storage::{MeasureKind, ScalarType, Storage};

use crate::{Error, QueryResult, Result, internal};

/// A catalog statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Catalog {
    Databases {
        like: Option<String>,
    },
    Tables {
        database: Option<String>,
        like: Option<String>,
    },
    Measures {
        database: String,
        table: String,
        like: Option<String>,
    },
    Describe {
        database: String,
        table: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    /// An unquoted word, as written.
    Word(String),
    /// A double-quoted identifier.
    Quoted(String),
    /// A single-quoted string.
    Text(String),
    Dot,
}

fn tokens(sql: &str) -> Option<Vec<Token>> {
    let mut out = Vec::new();
    let mut chars = sql.trim().trim_end_matches(';').chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
        } else if c == '.' {
            chars.next();
            out.push(Token::Dot);
        } else if c == '"' || c == '\'' {
            chars.next();
            let mut s = String::new();
            loop {
                match chars.next()? {
                    q if q == c && chars.peek() == Some(&c) => {
                        chars.next();
                        s.push(c);
                    }
                    q if q == c => break,
                    other => s.push(other),
                }
            }
            out.push(if c == '"' {
                Token::Quoted(s)
            } else {
                Token::Text(s)
            });
        } else if c.is_alphanumeric() || c == '_' || c == '-' {
            let mut s = String::new();
            while let Some(&c) = chars.peek() {
                if c.is_alphanumeric() || c == '_' || c == '-' {
                    s.push(c);
                    chars.next();
                } else {
                    break;
                }
            }
            out.push(Token::Word(s));
        } else {
            return None;
        }
    }
    Some(out)
}

fn keyword(t: Option<&Token>, k: &str) -> bool {
    matches!(t, Some(Token::Word(w)) if w.eq_ignore_ascii_case(k))
}

fn syntax(what: &str) -> Error {
    Error::Validation(format!("The query syntax is invalid: {what}"))
}

/// Recognises a catalog statement; `None` for anything else (which DataFusion then parses).
pub fn parse(sql: &str) -> Option<Result<Catalog>> {
    let first_word: String = sql
        .trim_start()
        .chars()
        .take_while(char::is_ascii_alphabetic)
        .collect();
    if !(first_word.eq_ignore_ascii_case("show") || first_word.eq_ignore_ascii_case("describe")) {
        return None;
    }
    let t = tokens(sql)?;
    let first = t.first()?;
    let is_show = keyword(Some(first), "show");
    if !is_show && !keyword(Some(first), "describe") {
        return None;
    }
    let mut p = Parser { t: &t, at: 1 };
    Some(if is_show { p.show() } else { p.describe() })
}

struct Parser<'a> {
    t: &'a [Token],
    at: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Token> {
        self.t.get(self.at)
    }

    fn eat(&mut self, k: &str) -> bool {
        let hit = keyword(self.peek(), k);
        if hit {
            self.at += 1;
        }
        hit
    }

    fn name(&mut self) -> Option<String> {
        let n = match self.peek()? {
            Token::Word(w) | Token::Quoted(w) => w.clone(),
            _ => return None,
        };
        self.at += 1;
        Some(n)
    }

    fn qualified(&mut self, statement: &str) -> Result<(String, String)> {
        let wanted = || syntax(&format!("{statement} needs database.table"));
        let db = self.name().ok_or_else(wanted)?;
        if self.peek() != Some(&Token::Dot) {
            return Err(wanted());
        }
        self.at += 1;
        let table = self.name().ok_or_else(wanted)?;
        Ok((db, table))
    }

    fn like(&mut self) -> Result<Option<String>> {
        if !self.eat("like") {
            return Ok(None);
        }
        match self.peek() {
            Some(Token::Text(p)) => {
                let p = p.clone();
                self.at += 1;
                Ok(Some(p))
            }
            _ => Err(syntax("LIKE needs a quoted pattern")),
        }
    }

    fn end(&self, c: Catalog) -> Result<Catalog> {
        match self.peek() {
            None => Ok(c),
            Some(_) => Err(syntax("unexpected text after the statement")),
        }
    }

    fn show(&mut self) -> Result<Catalog> {
        if self.eat("databases") {
            let like = self.like()?;
            self.end(Catalog::Databases { like })
        } else if self.eat("tables") {
            let database = if self.eat("from") || self.eat("in") {
                Some(
                    self.name()
                        .ok_or_else(|| syntax("SHOW TABLES FROM needs a database"))?,
                )
            } else {
                None
            };
            let like = self.like()?;
            self.end(Catalog::Tables { database, like })
        } else if self.eat("measures") {
            if !self.eat("from") {
                return Err(syntax("SHOW MEASURES needs FROM database.table"));
            }
            let (database, table) = self.qualified("SHOW MEASURES FROM")?;
            let like = self.like()?;
            self.end(Catalog::Measures {
                database,
                table,
                like,
            })
        } else {
            Err(syntax(
                "SHOW must be followed by DATABASES, TABLES or MEASURES",
            ))
        }
    }

    fn describe(&mut self) -> Result<Catalog> {
        let (database, table) = self.qualified("DESCRIBE")?;
        self.end(Catalog::Describe { database, table })
    }
}

/// SQL `LIKE`: `%` any run, `_` one character; case-sensitive.
pub fn like(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    // Classic two-pointer match with backtracking to the last `%`.
    let (mut i, mut j, mut star, mut mark) = (0, 0, None, 0);
    while j < t.len() {
        if i < p.len() && (p[i] == '_' || p[i] == t[j]) {
            i += 1;
            j += 1;
        } else if i < p.len() && p[i] == '%' {
            star = Some(i);
            mark = j;
            i += 1;
        } else if let Some(s) = star {
            i = s + 1;
            mark += 1;
            j = mark;
        } else {
            return false;
        }
    }
    p[i..].iter().all(|c| *c == '%')
}

fn matches(like_pattern: &Option<String>, name: &str) -> bool {
    like_pattern.as_deref().is_none_or(|p| like(p, name))
}

fn strings(columns: &[&str], rows: Vec<Vec<String>>) -> Result<QueryResult> {
    let schema: SchemaRef = Arc::new(Schema::new(
        columns
            .iter()
            .map(|c| Field::new(*c, DataType::Utf8, true))
            .collect::<Vec<_>>(),
    ));
    let arrays: Vec<ArrayRef> = (0..columns.len())
        .map(|i| Arc::new(StringArray::from_iter_values(rows.iter().map(|r| &r[i]))) as ArrayRef)
        .collect();
    let batch = RecordBatch::try_new(Arc::clone(&schema), arrays).map_err(internal)?;
    Ok(QueryResult {
        schema,
        batches: vec![batch],
        bytes_scanned: 0,
        insights: None,
    })
}

/// A one-column result of the names that match the `LIKE` pattern.
fn names_matching(column: &str, names: Vec<String>, like: &Option<String>) -> Result<QueryResult> {
    let rows = names
        .into_iter()
        .filter(|n| matches(like, n))
        .map(|n| vec![n])
        .collect();
    strings(&[column], rows)
}

fn type_name(t: ScalarType) -> String {
    t.as_str().to_ascii_lowercase()
}

/// Runs a catalog statement for the tables of `scope`.
pub async fn run(engine: &crate::QueryEngine, scope: &Scope, c: Catalog) -> Result<QueryResult> {
    let (meta, storage) = (engine.meta.as_ref(), &engine.storage);
    match c {
        Catalog::Databases { like } => {
            let mut names = Vec::new();
            let mut after: Option<String> = None;
            loop {
                let page = meta
                    .list_databases(scope, after.as_deref(), 1000)
                    .await
                    .map_err(internal)?;
                after = page.items.last().map(|d| d.name.clone());
                names.extend(page.items.into_iter().map(|d| d.name));
                if !page.more {
                    break;
                }
            }
            names_matching("Database", names, &like)
        }
        Catalog::Tables { database, like } => {
            if let Some(db) = &database {
                database_exists(meta, scope, db).await?;
            }
            let mut names = Vec::new();
            let mut after: Option<(String, String)> = None;
            loop {
                let page = meta
                    .list_tables(
                        scope,
                        database.as_deref(),
                        after.as_ref().map(|(d, t)| (d.as_str(), t.as_str())),
                        1000,
                    )
                    .await
                    .map_err(internal)?;
                after = page
                    .items
                    .last()
                    .map(|t| (t.database.clone(), t.name.clone()));
                names.extend(page.items.into_iter().map(|t| t.name));
                if !page.more {
                    break;
                }
            }
            names_matching("Table", names, &like)
        }
        Catalog::Measures {
            database,
            table,
            like,
        } => {
            let (record, schema) = table_schema(meta, storage, scope, &database, &table).await?;
            let mut dims = dimensions_by_measure(engine, record, &schema).await?;
            let mut measures: Vec<(String, String, Vec<String>)> = schema
                .measures()
                .filter(|(n, _)| matches(&like, n))
                .map(|(n, k)| {
                    let t = match k {
                        MeasureKind::Single(t) => type_name(t),
                        MeasureKind::Multi => "multi".to_owned(),
                    };
                    (n.to_owned(), t, dims.remove(n).unwrap_or_default())
                })
                .collect();
            measures.sort();
            measures_result(&measures)
        }
        Catalog::Describe { database, table } => {
            let (_, schema) = table_schema(meta, storage, scope, &database, &table).await?;
            let mut rows: Vec<Vec<String>> = schema
                .dimensions()
                .iter()
                .map(|d| vec![d.clone(), "varchar".into(), "DIMENSION".into()])
                .collect();
            rows.push(vec![
                "measure_name".into(),
                "varchar".into(),
                "MEASURE_NAME".into(),
            ]);
            rows.push(vec!["time".into(), "timestamp".into(), "TIMESTAMP".into()]);
            for t in schema.single_types() {
                rows.push(vec![
                    freshet_storage::value_column(t).to_owned(),
                    type_name(t),
                    "MEASURE_VALUE".into(),
                ]);
            }
            for (name, t) in schema.multi_measures() {
                rows.push(vec![name.clone(), type_name(*t), "MULTI".into()]);
            }
            strings(&["Column", "Type", "Timestream attribute type"], rows)
        }
    }
}

async fn database_exists(meta: &dyn MetadataStore, scope: &Scope, db: &str) -> Result<()> {
    match meta.database(scope, db).await.map_err(internal)? {
        Some(_) => Ok(()),
        None => Err(Error::Validation(format!("Database {db} does not exist."))),
    }
}

/// A table and its schema.
async fn table_schema(
    meta: &dyn MetadataStore,
    storage: &Storage,
    scope: &Scope,
    db: &str,
    table: &str,
) -> Result<(freshet_meta::TableRecord, freshet_storage::TableSchema)> {
    database_exists(meta, scope, db).await?;
    let Some(record) = meta.table(scope, db, table).await.map_err(internal)? else {
        return Err(Error::Validation(format!(
            "Table {db}.{table} does not exist."
        )));
    };
    let schema = storage.schema(&record.id).await.map_err(internal)?;
    Ok((record, schema))
}

/// For each measure name, the dimensions its rows have values for, in the table's order, as the storage engine
/// knows them from its data files' summaries and its buffered series.
async fn dimensions_by_measure(
    engine: &crate::QueryEngine,
    record: freshet_meta::TableRecord,
    schema: &freshet_storage::TableSchema,
) -> Result<std::collections::HashMap<String, Vec<String>>> {
    let known = engine
        .storage
        .measure_dimensions(&record)
        .await
        .map_err(internal)?;
    Ok(known
        .into_iter()
        .map(|(measure, present)| {
            let ordered = schema
                .dimensions()
                .iter()
                .filter(|d| present.contains(*d))
                .cloned()
                .collect();
            (measure, ordered)
        })
        .collect())
}

/// `measure_name`, `data_type` and `dimensions` (an array of rows of `dimension_name` and `data_type`): the
/// dimensions that rows of the measure have values for.
fn measures_result(measures: &[(String, String, Vec<String>)]) -> Result<QueryResult> {
    let row_fields = Fields::from(vec![
        Field::new("dimension_name", DataType::Utf8, true),
        Field::new("data_type", DataType::Utf8, true),
    ]);
    let mut dims = ListBuilder::new(StructBuilder::from_fields(row_fields.clone(), 0));
    for (_, _, dimensions) in measures {
        let values = dims.values();
        for d in dimensions {
            values
                .field_builder::<StringBuilder>(0)
                .expect("utf8 field")
                .append_value(d);
            values
                .field_builder::<StringBuilder>(1)
                .expect("utf8 field")
                .append_value("varchar");
            values.append(true);
        }
        dims.append(true);
    }
    let dims = dims.finish();
    let schema: SchemaRef = Arc::new(Schema::new(vec![
        Field::new("measure_name", DataType::Utf8, true),
        Field::new("data_type", DataType::Utf8, true),
        Field::new("dimensions", dims.data_type().clone(), true),
    ]));
    let batch = RecordBatch::try_new(
        Arc::clone(&schema),
        vec![
            Arc::new(StringArray::from_iter_values(measures.iter().map(|m| &m.0))),
            Arc::new(StringArray::from_iter_values(measures.iter().map(|m| &m.1))),
            Arc::new(dims),
        ],
    )
    .map_err(internal)?;
    Ok(QueryResult {
        schema,
        batches: vec![batch],
        bytes_scanned: 0,
        insights: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_parse() {
        let p = |s: &str| parse(s).expect("a catalog statement");
        assert_eq!(
            p("SHOW DATABASES").unwrap(),
            Catalog::Databases { like: None }
        );
        assert_eq!(
            p("show tables from \"my-db\" like 'a%';").unwrap(),
            Catalog::Tables {
                database: Some("my-db".into()),
                like: Some("a%".into())
            }
        );
        assert_eq!(
            p("SHOW MEASURES FROM db.\"tbl\"").unwrap(),
            Catalog::Measures {
                database: "db".into(),
                table: "tbl".into(),
                like: None
            }
        );
        assert_eq!(
            p("DESCRIBE \"db\".tbl").unwrap(),
            Catalog::Describe {
                database: "db".into(),
                table: "tbl".into()
            }
        );
        assert!(p("SHOW MEASURES db.tbl").is_err());
        assert!(p("SHOW TABLES FROM db extra").is_err());
        assert!(p("DESCRIBE tbl").is_err());
        assert!(parse("SELECT 1").is_none());
    }

    #[test]
    fn like_patterns() {
        assert!(like("a%", "abc"));
        assert!(like("%b%", "abc"));
        assert!(like("a_c", "abc"));
        assert!(!like("a_c", "abbc"));
        assert!(like("%", ""));
        assert!(!like("abc", "ab"));
        assert!(like("a%c%e", "abxxcyye"));
        assert!(!like("A%", "abc"));
    }
}
