//! Opening hours for `within_hours(schedule, timezone)` (docs/rule-api.md): `;`-separated
//! clauses `DAYS HH:MM-HH:MM[,HH:MM-HH:MM]`, days `mon`…`sun` as ranges (`mon-fri`) and
//! lists (`sat,sun`); start inclusive, end exclusive, `24:00` allowed, and an end before the
//! start crosses midnight into the next day. Time-zone rules come from `chrono-tz`.

use chrono::{Datelike, TimeZone, Timelike};
use chrono_tz::Tz;

const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

/// What is wrong with a schedule or a time zone: each a sentence for the rule's author
/// (the rule error reads `within_hours: <sentence>`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HoursError {
    #[error("schedule clause \"{0}\" needs days and hours, like \"mon-fri 09:00-18:00\"")]
    Clause(String),
    #[error("the schedule is empty; write clauses like \"mon-fri 09:00-18:00\"")]
    Empty,
    #[error("\"{0}\" is not a day; use mon, tue, wed, thu, fri, sat, sun")]
    Day(String),
    #[error("\"{0}\" is not a time range; write it like 09:00-18:00")]
    Range(String),
    #[error("the range \"{0}\" is empty (it starts where it ends)")]
    EmptyRange(String),
    #[error("the range \"{0}\" starts at 24:00; start at 00:00 instead")]
    StartsAtMidnightEnd(String),
    #[error("\"{0}\" is not a time; write HH:MM, from 00:00 to 24:00")]
    Time(String),
    #[error("\"{0}\" is not a known time zone; use an IANA name like \"America/Bogota\"")]
    Zone(String),
    #[error("{0} is not a valid time")]
    Instant(i64),
}

/// One clause: the days (Monday = 0) and the minute ranges on each.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Clause {
    days: [bool; 7],
    ranges: Vec<(u32, u32)>,
}

/// A parsed schedule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    clauses: Vec<Clause>,
}

impl Schedule {
    /// # Errors
    /// A sentence naming the part of the schedule that is wrong.
    pub fn parse(text: &str) -> Result<Schedule, HoursError> {
        let mut clauses = Vec::new();
        for clause in text.split(';').map(str::trim).filter(|c| !c.is_empty()) {
            let (days, times) = clause
                .split_once(char::is_whitespace)
                .ok_or_else(|| HoursError::Clause(clause.to_string()))?;
            let days = parse_days(days.trim())?;
            let ranges = times
                .split(',')
                .map(|r| parse_range(r.trim()))
                .collect::<Result<Vec<_>, _>>()?;
            clauses.push(Clause { days, ranges });
        }
        if clauses.is_empty() {
            return Err(HoursError::Empty);
        }
        Ok(Schedule { clauses })
    }

    /// Whether `weekday` (Monday = 0) at `minute` of the day is inside the schedule.
    fn contains(&self, weekday: usize, minute: u32) -> bool {
        let yesterday = (weekday + 6) % 7;
        self.clauses.iter().any(|c| {
            c.ranges.iter().any(|&(start, end)| {
                if start < end {
                    c.days[weekday] && start <= minute && minute < end
                } else {
                    // Crosses midnight: the evening on the day itself, the early hours after.
                    (c.days[weekday] && minute >= start) || (c.days[yesterday] && minute < end)
                }
            })
        })
    }
}

fn parse_days(text: &str) -> Result<[bool; 7], HoursError> {
    let mut days = [false; 7];
    for part in text.split(',') {
        let index = |name: &str| {
            DAYS.iter()
                .position(|d| d.eq_ignore_ascii_case(name.trim()))
                .ok_or_else(|| HoursError::Day(name.to_string()))
        };
        match part.split_once('-') {
            Some((from, to)) => {
                let (from, to) = (index(from)?, index(to)?);
                let mut day = from;
                loop {
                    days[day] = true;
                    if day == to {
                        break;
                    }
                    day = (day + 1) % 7;
                }
            }
            None => days[index(part)?] = true,
        }
    }
    Ok(days)
}

fn parse_range(text: &str) -> Result<(u32, u32), HoursError> {
    let (start, end) = text
        .split_once('-')
        .ok_or_else(|| HoursError::Range(text.to_string()))?;
    let (start, end) = (parse_time(start.trim())?, parse_time(end.trim())?);
    if start == end {
        return Err(HoursError::EmptyRange(text.to_string()));
    }
    if start == 24 * 60 {
        return Err(HoursError::StartsAtMidnightEnd(text.to_string()));
    }
    Ok((start, end))
}

fn parse_time(text: &str) -> Result<u32, HoursError> {
    let bad = || HoursError::Time(text.to_string());
    let (h, m) = text.split_once(':').ok_or_else(bad)?;
    if h.len() != 2 || m.len() != 2 {
        return Err(bad());
    }
    let (h, m): (u32, u32) = (h.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
    if m > 59 || h > 24 || (h == 24 && m != 0) {
        return Err(bad());
    }
    Ok(h * 60 + m)
}

/// Whether the instant `unix_ms` falls inside `schedule` in the IANA zone `timezone`.
///
/// # Errors
/// A bad schedule or an unknown zone.
pub fn within_hours(schedule: &str, timezone: &str, unix_ms: i64) -> Result<bool, HoursError> {
    let schedule = Schedule::parse(schedule)?;
    let tz: Tz = timezone
        .parse()
        .map_err(|_| HoursError::Zone(timezone.to_string()))?;
    let local = tz
        .timestamp_millis_opt(unix_ms)
        .single()
        .ok_or(HoursError::Instant(unix_ms))?;
    let weekday = local.weekday().num_days_from_monday() as usize;
    Ok(schedule.contains(weekday, local.hour() * 60 + local.minute()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Unix ms of a UTC date-time.
    fn at(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> i64 {
        chrono::Utc
            .with_ymd_and_hms(y, mo, d, h, mi, 0)
            .unwrap()
            .timestamp_millis()
    }

    #[test]
    fn weekday_office_hours_in_a_zone() {
        // 2026-11-23 is a Monday. Bogota is UTC-5 all year.
        let s = "mon-fri 09:00-18:00";
        assert!(within_hours(s, "America/Bogota", at(2026, 11, 23, 14, 0)).unwrap()); // 09:00 local
        assert!(!within_hours(s, "America/Bogota", at(2026, 11, 23, 13, 59)).unwrap()); // 08:59
        assert!(!within_hours(s, "America/Bogota", at(2026, 11, 23, 23, 0)).unwrap()); // 18:00, end exclusive
        assert!(!within_hours(s, "America/Bogota", at(2026, 11, 28, 15, 0)).unwrap());
        // Saturday
    }

    #[test]
    fn lists_several_ranges_and_24_00() {
        let s = "sat,sun 10:00-12:00,14:00-24:00";
        assert!(within_hours(s, "UTC", at(2026, 11, 29, 23, 59)).unwrap()); // Sunday 23:59
        assert!(!within_hours(s, "UTC", at(2026, 11, 29, 13, 0)).unwrap());
        assert!(within_hours(s, "UTC", at(2026, 11, 28, 10, 0)).unwrap());
    }

    #[test]
    fn an_end_before_the_start_crosses_midnight() {
        let s = "fri 22:00-02:00";
        assert!(within_hours(s, "UTC", at(2026, 11, 27, 23, 0)).unwrap()); // Friday night
        assert!(within_hours(s, "UTC", at(2026, 11, 28, 1, 59)).unwrap()); // Saturday early
        assert!(!within_hours(s, "UTC", at(2026, 11, 28, 2, 0)).unwrap());
        assert!(!within_hours(s, "UTC", at(2026, 11, 27, 1, 0)).unwrap()); // Friday early: Thursday not listed
    }

    #[test]
    fn daylight_saving_time_is_applied() {
        // Madrid: UTC+1 in winter, UTC+2 in summer.
        let s = "mon-sun 09:00-10:00";
        assert!(within_hours(s, "Europe/Madrid", at(2026, 1, 14, 8, 30)).unwrap());
        assert!(within_hours(s, "Europe/Madrid", at(2026, 7, 14, 7, 30)).unwrap());
        assert!(!within_hours(s, "Europe/Madrid", at(2026, 7, 14, 8, 30)).unwrap());
    }

    #[test]
    fn bad_schedules_and_zones_are_named() {
        for (schedule, zone, needle) in [
            ("mon-fri 9:00-18:00", "UTC", "9:00"),
            ("funday 09:00-10:00", "UTC", "funday"),
            ("mon 09:00", "UTC", "09:00"),
            ("mon 10:00-10:00", "UTC", "empty"),
            ("mon 09:00-25:00", "UTC", "25:00"),
            ("", "UTC", "empty"),
            ("mon 09:00-10:00", "Mars/Olympus", "Mars/Olympus"),
        ] {
            let err = within_hours(schedule, zone, 0).unwrap_err();
            assert!(
                err.to_string().contains(needle),
                "{schedule} / {zone}: {err}"
            );
        }
    }
}
