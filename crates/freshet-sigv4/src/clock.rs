//! Request-time checks: clock skew for header auth, `X-Amz-Expires` for presigned requests.

use crate::parse::MAX_EXPIRES_SECS;
use crate::{AuthKind, Authorization, Error};

/// Unix seconds as `YYYYMMDD'T'HHMMSS'Z'`; instants `time` cannot represent are shown as `@secs`.
fn format_amz_date(unix: i64) -> String {
    match time::OffsetDateTime::from_unix_timestamp(unix) {
        Ok(t) => format!(
            "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute(),
            t.second()
        ),
        Err(_) => format!("@{unix}"),
    }
}

/// The allowed skew as AWS prints it: `15 min.` (or `90 sec.` when not whole minutes).
fn format_skew(secs: i64) -> String {
    if secs % 60 == 0 {
        format!("{} min.", secs / 60)
    } else {
        format!("{secs} sec.")
    }
}

/// See [`crate::check_time`].
pub(crate) fn check_time(
    auth: &Authorization,
    now_unix: i64,
    max_skew_secs: i64,
) -> Result<(), Error> {
    let skew = max_skew_secs.max(0);
    let request = auth.request_time;

    let latest = now_unix.saturating_add(skew);
    if request > latest {
        return Err(Error::Expired(format!(
            "Signature not yet current: {} is still later than {} ({} + {})",
            format_amz_date(request),
            format_amz_date(latest),
            format_amz_date(now_unix),
            format_skew(skew)
        )));
    }

    match auth.kind {
        // Without X-Amz-Expires a presigned request gets the same window as header auth.
        AuthKind::Header | AuthKind::Presigned { expires_secs: 0 } => {
            let earliest = now_unix.saturating_sub(skew);
            if request < earliest {
                return Err(Error::Expired(format!(
                    "Signature expired: {} is now earlier than {} ({} - {})",
                    format_amz_date(request),
                    format_amz_date(earliest),
                    format_amz_date(now_unix),
                    format_skew(skew)
                )));
            }
        }
        AuthKind::Presigned { expires_secs } => {
            if expires_secs > MAX_EXPIRES_SECS {
                return Err(Error::Expired(format!(
                    "X-Amz-Expires must be less than a week (in seconds) that is {MAX_EXPIRES_SECS}"
                )));
            }
            let expires = i64::try_from(expires_secs).unwrap_or(i64::MAX);
            if now_unix > request.saturating_add(expires) {
                return Err(Error::Expired("Request has expired".to_owned()));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(format_amz_date(1_440_938_160), "20150830T123600Z");
        assert_eq!(format_amz_date(0), "19700101T000000Z");
        assert_eq!(format_amz_date(i64::MAX), format!("@{}", i64::MAX));
        assert_eq!(format_skew(900), "15 min.");
        assert_eq!(format_skew(300), "5 min.");
        assert_eq!(format_skew(90), "90 sec.");
    }
}
