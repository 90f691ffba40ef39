//! Sizes and ages as Docker prints them: `4.26MB`, `2 weeks ago`.

/// Decimal units with three significant digits: `512B`, `12.3kB`, `4.26MB`.
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["B", "kB", "MB", "GB", "TB", "PB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit < UNITS.len() - 1 {
        value /= 1000.0;
        unit += 1;
    }
    let text = if value >= 100.0 {
        format!("{value:.0}")
    } else if value >= 10.0 {
        format!("{value:.1}")
    } else {
        format!("{value:.2}")
    };
    let text = if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        text
    };
    format!("{text}{}", UNITS[unit])
}

/// Binary units as `docker stats` prints memory: `1.5MiB`, `23.4GiB`.
pub fn human_binary(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.2}{}", UNITS[unit])
}

pub use berth_engine::inspect::human_duration;

/// Docker's `time.Unix(t).String()` in UTC: `2026-12-04 21:24:25 +0000 UTC`.
pub fn created_at(rfc3339: &str) -> String {
    berth_engine::time::parse(rfc3339).map_or_else(String::new, |t| {
        let text = berth_engine::time::format_unix(t, 0);
        format!("{} {} +0000 UTC", &text[..10], &text[11..19])
    })
}

/// A duration as Go writes them (`5s`, `100ms`, `1m30s`, `1.5h`), which Docker's and runc's
/// flags take.
pub fn go_duration(text: &str) -> Option<std::time::Duration> {
    let mut rest = text.trim();
    if rest.is_empty() {
        return None;
    }
    let mut seconds = 0f64;
    while !rest.is_empty() {
        let number_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let (number, after) = rest.split_at(number_end);
        let value: f64 = number.parse().ok()?;
        let unit_end = after
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(after.len());
        let (unit, after) = after.split_at(unit_end);
        let scale = match unit {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return None,
        };
        seconds += value * scale;
        rest = after;
    }
    Some(std::time::Duration::from_secs_f64(seconds))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn created_at_is_gos_time_string_in_utc() {
        assert_eq!(
            created_at("2026-12-04T21:24:25.123456789Z"),
            "2026-12-04 21:24:25 +0000 UTC"
        );
        assert_eq!(
            created_at("2026-12-04T23:24:25+02:00"),
            "2026-12-04 21:24:25 +0000 UTC"
        );
        assert_eq!(created_at(""), "");
    }

    #[test]
    fn go_durations() {
        use std::time::Duration;
        assert_eq!(go_duration("5s"), Some(Duration::from_secs(5)));
        assert_eq!(go_duration("100ms"), Some(Duration::from_millis(100)));
        assert_eq!(go_duration("1m30s"), Some(Duration::from_secs(90)));
        assert_eq!(go_duration("1.5h"), Some(Duration::from_secs(5400)));
        assert_eq!(go_duration("10"), None);
        assert_eq!(go_duration("5x"), None);
        assert_eq!(go_duration(""), None);
    }

    #[test]
    fn sizes_read_like_docker() {
        assert_eq!(human_size(0), "0B");
        assert_eq!(human_size(512), "512B");
        assert_eq!(human_size(12_345), "12.3kB");
        assert_eq!(human_size(4_261_802), "4.26MB");
        assert_eq!(human_size(4_000_000), "4MB");
        assert_eq!(human_size(1_234_567_890), "1.23GB");
    }

    #[test]
    fn binary_sizes() {
        assert_eq!(human_binary(512), "512.00B");
        assert_eq!(human_binary(3 << 20), "3.00MiB");
    }

    #[test]
    fn durations_read_like_docker() {
        assert_eq!(human_duration(0), "Less than a second");
        assert_eq!(human_duration(45), "45 seconds");
        assert_eq!(human_duration(90), "About a minute");
        assert_eq!(human_duration(3 * 3600), "3 hours");
        assert_eq!(human_duration(20 * 86400), "2 weeks");
        assert_eq!(human_duration(800 * 86400), "2 years");
    }
}
