//! Calendar arithmetic for UTC timestamps in nanoseconds, shared by every place that renders a time.

/// A UTC instant broken into its calendar fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Civil {
    pub year: i64,
    pub month: i64,
    pub day: i64,
    pub hour: i64,
    pub minute: i64,
    pub second: i64,
    pub nanos: i64,
}

impl Civil {
    /// Splits nanoseconds since the epoch (negative before 1970) into calendar fields (proleptic Gregorian, UTC).
    pub fn from_nanos(ns: i64) -> Self {
        let secs = ns.div_euclid(1_000_000_000);
        let nanos = ns.rem_euclid(1_000_000_000);
        let days = secs.div_euclid(86_400);
        let rem = secs.rem_euclid(86_400);
        // Howard Hinnant's days-to-civil algorithm.
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z.rem_euclid(146_097);
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = doy - (153 * mp + 2) / 5 + 1;
        let month = if mp < 10 { mp + 3 } else { mp - 9 };
        Self {
            year: yoe + era * 400 + i64::from(month <= 2),
            month,
            day,
            hour: rem / 3600,
            minute: (rem % 3600) / 60,
            second: rem % 60,
            nanos,
        }
    }

    /// `YYYY-MM-DD{sep}hh:mm:ss.nnnnnnnnn`.
    pub fn format(&self, sep: char) -> String {
        format!(
            "{:04}-{:02}-{:02}{sep}{:02}:{:02}:{:02}.{:09}",
            self.year, self.month, self.day, self.hour, self.minute, self.second, self.nanos
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_instants() {
        assert_eq!(
            Civil::from_nanos(0).format(' '),
            "1970-01-01 00:00:00.000000000"
        );
        assert_eq!(
            Civil::from_nanos(1_655_487_883_771_000_678).format('T'),
            "2022-06-17T17:44:43.771000678"
        );
        assert_eq!(
            Civil::from_nanos(-1).format(' '),
            "1969-12-31 23:59:59.999999999"
        );
        assert_eq!(
            Civil::from_nanos(951_782_400_000_000_000).format(' '),
            "2000-02-29 00:00:00.000000000"
        );
    }
}
