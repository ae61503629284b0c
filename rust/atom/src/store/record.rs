//! When and from where each set's repository in the store was last fetched: a small file
//! `atom-fetched` in the set's bare repository (`<url>\n<unix seconds>\n`), so that an atom
//! missing from the store can be told apart from one that was never published.

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::{Store, StoreError};
use crate::id::Root;

/// The file, in a set's repository, recording its last fetch.
pub const FETCH_RECORD: &str = "atom-fetched";

/// A set's last fetch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchRecord {
    /// The URL fetched from.
    pub url: String,
    /// When.
    pub time: SystemTime,
}

impl std::fmt::Display for FetchRecord {
    /// `it was last fetched from URL on DATE`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "it was last fetched from {} on {}",
            self.url,
            self.date()
        )
    }
}

impl FetchRecord {
    /// The date of the fetch, `YYYY-MM-DD HH:MM UTC`.
    pub fn date(&self) -> String {
        let secs = self
            .time
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        let (days, rest) = (secs / 86_400, secs % 86_400);
        let (y, m, d) = civil_from_days(days as i64);
        format!(
            "{y:04}-{m:02}-{d:02} {:02}:{:02} UTC",
            rest / 3600,
            rest % 3600 / 60
        )
    }
}

/// The calendar date of a day counted from 1970-01-01 (proleptic Gregorian).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

impl Store {
    /// Records that the set with this root was fetched from `url` (without its credentials) now
    /// (written to a temporary file and renamed, so a reader never sees half a record).
    pub fn record_fetch(&self, root: &Root, url: &str) -> Result<(), StoreError> {
        write_record(&self.set_path(root), url)
    }

    /// The last fetch of the set with this root, when one was recorded.
    pub fn last_fetch(&self, root: &Root) -> Option<FetchRecord> {
        read_record(&self.set_path(root))
    }
}

/// Records in the repository `repo` (a set's or a git mirror's) that it was fetched from `url`
/// (without its credentials) now: written to a temporary file and renamed, so a reader never
/// sees half a record.
pub(crate) fn write_record(repo: &Path, url: &str) -> Result<(), StoreError> {
    // A record is read back into messages and hints: never with credentials.
    let url = crate::remote::without_credentials(url);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    let path = repo.join(FETCH_RECORD);
    let tmp = repo.join(crate::repo::temporary_name(FETCH_RECORD));
    std::fs::write(&tmp, format!("{url}\n{now}\n"))
        .and_then(|()| std::fs::rename(&tmp, &path))
        .map_err(|source| {
            let _ = std::fs::remove_file(&tmp);
            StoreError::Io { path, source }
        })
}

/// The fetch record of the set repository `repo`, if it has a readable one.
pub fn read_record(repo: &Path) -> Option<FetchRecord> {
    let text = std::fs::read_to_string(repo.join(FETCH_RECORD)).ok()?;
    let mut lines = text.lines();
    let url = lines.next()?.to_owned();
    let secs: u64 = lines.next()?.parse().ok()?;
    Some(FetchRecord {
        url,
        time: UNIX_EPOCH + Duration::from_secs(secs),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_utc_calendar_dates() {
        let at = |secs| FetchRecord {
            url: String::new(),
            time: UNIX_EPOCH + Duration::from_secs(secs),
        };
        assert_eq!(at(0).date(), "1970-01-01 00:00 UTC");
        assert_eq!(at(1_700_000_000).date(), "2023-11-14 22:13 UTC");
        assert_eq!(at(951_782_400).date(), "2000-02-29 00:00 UTC");
    }
}
