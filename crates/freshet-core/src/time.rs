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

    /// Nanoseconds since the epoch of these fields (the inverse of [`Civil::from_nanos`]); `None` when out of range.
    pub fn to_nanos(&self) -> Option<i64> {
        let days = days_from_civil(self.year, self.month, self.day);
        let secs = days
            .checked_mul(86_400)?
            .checked_add(self.hour * 3600 + self.minute * 60 + self.second)?;
        secs.checked_mul(1_000_000_000)?.checked_add(self.nanos)
    }

    /// Days since 1970-01-01 of this date.
    pub fn days(&self) -> i64 {
        days_from_civil(self.year, self.month, self.day)
    }

    /// `YYYY-MM-DD{sep}hh:mm:ss.nnnnnnnnn`.
    pub fn format(&self, sep: char) -> String {
        format!(
            "{:04}-{:02}-{:02}{sep}{:02}:{:02}:{:02}.{:09}",
            self.year, self.month, self.day, self.hour, self.minute, self.second, self.nanos
        )
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days-from-civil algorithm).
pub fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

pub fn is_leap_year(year: i64) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

pub fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if is_leap_year(year) => 29,
        _ => 28,
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

    #[test]
    fn fields_round_trip() {
        for ns in [
            0,
            -1,
            951_782_400_000_000_000,
            1_655_487_883_771_000_678,
            -6_000_000_000_000_000_000,
            9_000_000_000_000_000_000,
        ] {
            assert_eq!(Civil::from_nanos(ns).to_nanos(), Some(ns), "{ns}");
        }
        assert_eq!(days_in_month(2000, 2), 29);
        assert_eq!(days_in_month(1900, 2), 28);
        assert_eq!(days_from_civil(1970, 1, 1), 0);
    }
}
