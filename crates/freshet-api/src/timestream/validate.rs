//! Request validation with AWS's (Coral's) wording:
//! `2 validation errors detected: Value 'x' at 'databaseName' failed to satisfy constraint: Member must …; …`.

use std::fmt::Display;

use crate::error::ApiError;

/// Collects constraint violations of one request, in member order.
#[derive(Debug, Default)]
pub struct Violations(Vec<String>);

impl Violations {
    /// Paths are `Display` so that callers on hot paths can pass lazily formatted ones: they are rendered only when
    /// a constraint fails.
    fn add(&mut self, value: &str, path: impl Display, constraint: &str) {
        self.0.push(format!(
            "Value {value} at '{path}' failed to satisfy constraint: Member must {constraint}"
        ));
    }

    /// A required member; returns the value when present.
    pub fn required<'a, T>(&mut self, v: &'a Option<T>, path: impl Display) -> Option<&'a T> {
        if v.is_none() {
            self.add("null", path, "not be null");
        }
        v.as_ref()
    }

    /// Length in characters (AWS counts UTF-16 units; the same for the ASCII names these limits guard).
    pub fn length(&mut self, v: &str, path: impl Display, min: usize, max: usize) {
        // A string of n bytes has between n/4 and n characters: most values need no counting.
        if v.len() <= max && v.len() / 4 >= min {
            return;
        }
        let n = v.chars().count();
        if n < min {
            self.add(
                &quote(v),
                path,
                &format!("have length greater than or equal to {min}"),
            );
        } else if n > max {
            self.add(
                &quote(v),
                path,
                &format!("have length less than or equal to {max}"),
            );
        }
    }

    pub fn count<T>(
        &mut self,
        v: &[T],
        path: impl Display,
        min: usize,
        max: usize,
        shown: impl FnOnce() -> String,
    ) {
        if v.len() < min {
            self.add(
                &quote(&shown()),
                path,
                &format!("have length greater than or equal to {min}"),
            );
        } else if v.len() > max {
            self.add(
                &quote(&shown()),
                path,
                &format!("have length less than or equal to {max}"),
            );
        }
    }

    pub fn pattern(&mut self, v: &str, path: impl Display, pattern: &str, matches: bool) {
        if !matches {
            self.add(
                &quote(v),
                path,
                &format!("satisfy regular expression pattern: {pattern}"),
            );
        }
    }

    pub fn range(&mut self, v: i64, path: impl Display, min: i64, max: i64) {
        if v < min {
            self.add(
                &quote(&v.to_string()),
                path,
                &format!("have value greater than or equal to {min}"),
            );
        } else if v > max {
            self.add(
                &quote(&v.to_string()),
                path,
                &format!("have value less than or equal to {max}"),
            );
        }
    }

    pub fn one_of(&mut self, v: &str, path: impl Display, allowed: &[&str]) {
        if !allowed.contains(&v) {
            self.add(
                &quote(v),
                path,
                &format!("satisfy enum value set: [{}]", allowed.join(", ")),
            );
        }
    }

    pub fn finish(self) -> Result<(), ApiError> {
        match self.0.len() {
            0 => Ok(()),
            1 => Err(ApiError::Validation(format!(
                "1 validation error detected: {}",
                self.0[0]
            ))),
            n => Err(ApiError::Validation(format!(
                "{n} validation errors detected: {}",
                self.0.join("; ")
            ))),
        }
    }
}

fn quote(v: &str) -> String {
    format!("'{v}'")
}

/// `[a-zA-Z0-9_.-]+`, the pattern of database and table names at creation.
pub fn is_resource_name(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(v: Violations) -> String {
        match v.finish() {
            Err(ApiError::Validation(m)) => m,
            other => panic!("expected a validation error, got {other:?}"),
        }
    }

    #[test]
    fn wording_matches_aws() {
        let mut v = Violations::default();
        v.count(&[0; 101], "records", 1, 100, || "[…]".into());
        assert_eq!(
            message(v),
            "1 validation error detected: Value '[…]' at 'records' failed to satisfy constraint: \
             Member must have length less than or equal to 100"
        );

        let mut v = Violations::default();
        v.required::<String>(&None, "databaseName");
        v.range(0, "maxResults", 1, 20);
        assert_eq!(
            message(v),
            "2 validation errors detected: Value null at 'databaseName' failed to satisfy constraint: \
             Member must not be null; Value '0' at 'maxResults' failed to satisfy constraint: \
             Member must have value greater than or equal to 1"
        );
        assert!(Violations::default().finish().is_ok());
    }

    #[test]
    fn resource_names() {
        assert!(is_resource_name("my-db_1.x"));
        assert!(!is_resource_name("my db"));
        assert!(!is_resource_name(""));
        assert!(!is_resource_name("dé"));
    }
}
