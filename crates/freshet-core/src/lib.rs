//! Pure domain types shared by every Freshet layer: identifiers, ARNs, secrets, principals and the clock.
//!
//! Nothing here does I/O or depends on an async runtime.

mod clock;
mod ids;
mod principal;
mod secret;
mod time;

pub use clock::{Clock, ManualClock, SystemClock, UnixNanos};
pub use ids::{AccessKeyId, AccountId, Arn, IdError, Region};
pub use principal::{Principal, PrincipalKind};
pub use secret::Secret;
pub use time::{Civil, days_from_civil, days_in_month, is_leap_year};
