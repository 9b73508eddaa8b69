//! Validated records as the storage engine takes them, and their versioned binary form in WAL entries.

/// The scalar types of Timestream measures. Dimensions are always `Varchar`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ScalarType {
    Double,
    Bigint,
    Varchar,
    Boolean,
    Timestamp,
}

impl ScalarType {
    /// The API spelling: `DOUBLE`, `BIGINT`, …
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Double => "DOUBLE",
            Self::Bigint => "BIGINT",
            Self::Varchar => "VARCHAR",
            Self::Boolean => "BOOLEAN",
            Self::Timestamp => "TIMESTAMP",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "DOUBLE" => Self::Double,
            "BIGINT" => Self::Bigint,
            "VARCHAR" => Self::Varchar,
            "BOOLEAN" => Self::Boolean,
            "TIMESTAMP" => Self::Timestamp,
            _ => return None,
        })
    }

    fn tag(self) -> u8 {
        match self {
            Self::Double => 0,
            Self::Bigint => 1,
            Self::Varchar => 2,
            Self::Boolean => 3,
            Self::Timestamp => 4,
        }
    }
}

/// One measure value. `Timestamp` is nanoseconds since the epoch.
#[derive(Debug, Clone)]
pub enum Value {
    Double(f64),
    Bigint(i64),
    Varchar(String),
    Boolean(bool),
    Timestamp(i64),
}

impl PartialEq for Value {
    /// Doubles compare by bits, so a re-sent identical record is recognised as identical.
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Self::Double(a), Self::Double(b)) => a.to_bits() == b.to_bits(),
            (Self::Bigint(a), Self::Bigint(b)) | (Self::Timestamp(a), Self::Timestamp(b)) => a == b,
            (Self::Varchar(a), Self::Varchar(b)) => a == b,
            (Self::Boolean(a), Self::Boolean(b)) => a == b,
            _ => false,
        }
    }
}

impl Eq for Value {}

impl Value {
    pub fn scalar_type(&self) -> ScalarType {
        match self {
            Self::Double(_) => ScalarType::Double,
            Self::Bigint(_) => ScalarType::Bigint,
            Self::Varchar(_) => ScalarType::Varchar,
            Self::Boolean(_) => ScalarType::Boolean,
            Self::Timestamp(_) => ScalarType::Timestamp,
        }
    }

    fn approx_bytes(&self) -> usize {
        match self {
            Self::Varchar(s) => 24 + s.len(),
            _ => 16,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Measures {
    /// A single-measure record: its value goes to the `measure_value::<type>` column.
    Single(Value),
    /// A multi-measure record: each named measure is a column. Sorted by name, names unique.
    Multi(Vec<(String, Value)>),
}

/// A record that passed request validation: dimensions sorted by name, time in nanoseconds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriteRow {
    pub dimensions: Vec<(String, String)>,
    pub measure_name: String,
    pub time: i64,
    pub version: i64,
    pub measures: Measures,
}

impl WriteRow {
    pub fn approx_bytes(&self) -> usize {
        let dims: usize = self
            .dimensions
            .iter()
            .map(|(k, v)| 48 + k.len() + v.len())
            .sum();
        let measures = match &self.measures {
            Measures::Single(v) => v.approx_bytes(),
            Measures::Multi(m) => m.iter().map(|(k, v)| 24 + k.len() + v.approx_bytes()).sum(),
        };
        64 + dims + self.measure_name.len() + measures
    }

    /// How many measure values the record carries.
    pub fn value_count(&self) -> usize {
        match &self.measures {
            Measures::Single(_) => 1,
            Measures::Multi(m) => m.len(),
        }
    }
}

// --- WAL entry encoding ------------------------------------------------------------------------------------------
// version 1: u8 version | str table_id | u32 rows | rows…
// row: u16 dims | (str, str)… | str measure_name | i64 time | i64 version | u8 kind (0 single, 1 multi) | …
// single: value; multi: u16 n | (str, value)…; value: u8 type tag | payload; str: u32 len | utf-8 bytes.

const ENTRY_VERSION: u8 = 1;

/// One WAL entry: the accepted rows of one write to one table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WalBatch {
    pub table_id: String,
    pub rows: Vec<WriteRow>,
}

struct Writer(Vec<u8>);

impl Writer {
    fn str(&mut self, s: &str) {
        self.0.extend_from_slice(&(s.len() as u32).to_le_bytes());
        self.0.extend_from_slice(s.as_bytes());
    }
    fn value(&mut self, v: &Value) {
        self.0.push(v.scalar_type().tag());
        match v {
            Value::Double(d) => self.0.extend_from_slice(&d.to_le_bytes()),
            Value::Bigint(i) | Value::Timestamp(i) => self.0.extend_from_slice(&i.to_le_bytes()),
            Value::Varchar(s) => self.str(s),
            Value::Boolean(b) => self.0.push(u8::from(*b)),
        }
    }
}

/// Builds one WAL entry row by row, so rows can be encoded as they are accepted and then moved on.
pub struct WalEncoder {
    w: Writer,
    rows: u32,
    /// Where the row count sits in the entry.
    count_at: usize,
}

impl WalEncoder {
    pub fn new(table_id: &str) -> Self {
        let mut w = Writer(Vec::with_capacity(4096));
        w.0.push(ENTRY_VERSION);
        w.str(table_id);
        let count_at = w.0.len();
        w.0.extend_from_slice(&0u32.to_le_bytes()); // set by `finish`
        Self {
            w,
            rows: 0,
            count_at,
        }
    }

    pub fn push(&mut self, r: &WriteRow) {
        let w = &mut self.w;
        w.0.extend_from_slice(&(r.dimensions.len() as u16).to_le_bytes());
        for (k, v) in &r.dimensions {
            w.str(k);
            w.str(v);
        }
        w.str(&r.measure_name);
        w.0.extend_from_slice(&r.time.to_le_bytes());
        w.0.extend_from_slice(&r.version.to_le_bytes());
        match &r.measures {
            Measures::Single(v) => {
                w.0.push(0);
                w.value(v);
            }
            Measures::Multi(m) => {
                w.0.push(1);
                w.0.extend_from_slice(&(m.len() as u16).to_le_bytes());
                for (k, v) in m {
                    w.str(k);
                    w.value(v);
                }
            }
        }
        self.rows += 1;
    }

    pub fn rows(&self) -> u32 {
        self.rows
    }

    pub fn finish(mut self) -> Vec<u8> {
        let at = self.count_at;
        self.w.0[at..at + 4].copy_from_slice(&self.rows.to_le_bytes());
        self.w.0
    }
}

impl WalBatch {
    pub fn encode(&self) -> Vec<u8> {
        let mut e = WalEncoder::new(&self.table_id);
        for r in &self.rows {
            e.push(r);
        }
        e.finish()
    }

    /// Decodes an entry; `None` when the bytes are not an entry this version understands.
    pub fn decode(bytes: &[u8]) -> Option<Self> {
        let mut r = Reader(bytes);
        if r.u8()? != ENTRY_VERSION {
            return None;
        }
        let table_id = r.str()?;
        let n = r.u32()? as usize;
        let mut rows = Vec::with_capacity(n.min(1 << 16));
        for _ in 0..n {
            let dims = r.u16()? as usize;
            let mut dimensions = Vec::with_capacity(dims);
            for _ in 0..dims {
                dimensions.push((r.str()?, r.str()?));
            }
            let measure_name = r.str()?;
            let time = r.i64()?;
            let version = r.i64()?;
            let measures = match r.u8()? {
                0 => Measures::Single(r.value()?),
                1 => {
                    let m = r.u16()? as usize;
                    let mut out = Vec::with_capacity(m);
                    for _ in 0..m {
                        out.push((r.str()?, r.value()?));
                    }
                    Measures::Multi(out)
                }
                _ => return None,
            };
            rows.push(WriteRow {
                dimensions,
                measure_name,
                time,
                version,
                measures,
            });
        }
        r.0.is_empty().then_some(Self { table_id, rows })
    }
}

struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Option<&[u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        Some(head)
    }
    fn u8(&mut self) -> Option<u8> {
        Some(self.take(1)?[0])
    }
    fn u16(&mut self) -> Option<u16> {
        Some(u16::from_le_bytes(self.take(2)?.try_into().ok()?))
    }
    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }
    fn i64(&mut self) -> Option<i64> {
        Some(i64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }
    fn str(&mut self) -> Option<String> {
        let n = self.u32()? as usize;
        String::from_utf8(self.take(n)?.to_vec()).ok()
    }
    fn value(&mut self) -> Option<Value> {
        Some(match self.u8()? {
            0 => Value::Double(f64::from_le_bytes(self.take(8)?.try_into().ok()?)),
            1 => Value::Bigint(self.i64()?),
            2 => Value::Varchar(self.str()?),
            3 => Value::Boolean(self.u8()? != 0),
            4 => Value::Timestamp(self.i64()?),
            _ => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn value() -> impl Strategy<Value = Value> {
        prop_oneof![
            any::<f64>().prop_map(Value::Double),
            any::<i64>().prop_map(Value::Bigint),
            ".{0,20}".prop_map(Value::Varchar),
            any::<bool>().prop_map(Value::Boolean),
            any::<i64>().prop_map(Value::Timestamp),
        ]
    }

    fn row() -> impl Strategy<Value = WriteRow> {
        (
            proptest::collection::vec(("[a-z]{1,8}", ".{0,12}"), 0..4),
            "[a-z_]{1,10}",
            any::<i64>(),
            1i64..1000,
            prop_oneof![
                value().prop_map(Measures::Single),
                proptest::collection::vec(("[a-z]{1,6}", value()), 1..5).prop_map(Measures::Multi),
            ],
        )
            .prop_map(
                |(dimensions, measure_name, time, version, measures)| WriteRow {
                    dimensions,
                    measure_name,
                    time,
                    version,
                    measures,
                },
            )
    }

    proptest! {
        #[test]
        fn wal_batches_round_trip(table_id in "[a-f0-9]{32}", rows in proptest::collection::vec(row(), 0..20)) {
            let b = WalBatch { table_id, rows };
            let bytes = b.encode();
            prop_assert_eq!(WalBatch::decode(&bytes), Some(b));
            // Any strict prefix is rejected rather than misread.
            if !bytes.is_empty() {
                prop_assert_eq!(WalBatch::decode(&bytes[..bytes.len() - 1]), None);
            }
        }
    }
}
