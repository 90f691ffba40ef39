//! `berth events`: the events log replayed and followed (see `berth_engine::events`).

use super::Context;
use crate::cli::EventsArgs;
use crate::exit::{Failure, Outcome};
use anyhow::anyhow;
use berth_engine::events::{self, EventFilter, Replay};
use berth_engine::time;
use std::io::Write;

/// `berth events [--since T] [--until T] [--filter K=V]... [--format json]`
pub fn run(ctx: &Context, args: &EventsArgs) -> Outcome {
    let json = match args.format.as_deref() {
        None | Some("") => false,
        Some("json" | "{{json .}}") => true,
        Some(other) => {
            return Err(anyhow!("unsupported --format \"{other}\": use \"json\"").into());
        }
    };
    let filter = EventFilter::parse(&args.filter).map_err(|e| Failure {
        code: 1,
        error: e.into(),
    })?;
    let since = args.since.as_deref().map(timestamp).transpose()?;
    let until = args.until.as_deref().map(timestamp).transpose()?;
    let replay = Replay {
        since,
        until,
        filter,
    };
    let mut out = std::io::stdout().lock();
    let mut show = |event: &events::Event| {
        let line = match json {
            true => serde_json::to_string(event).expect("an event serialises"),
            false => event.text(),
        };
        writeln!(out, "{line}").and_then(|()| out.flush()).is_ok()
    };
    events::replay(&ctx.roots.root, &replay, &mut show)
        .map_err(|e| anyhow!("read the events log: {e}"))?;
    Ok(0)
}

/// A time as Docker's `--since` and `--until` take it, in nanoseconds since the epoch: Unix
/// seconds (`1700000000`, `1700000000.5`), RFC 3339, or a duration back from now (`10m`).
fn timestamp(text: &str) -> Result<i64, Failure> {
    if !text.is_empty() && text.chars().all(|c| c.is_ascii_digit() || c == '.') {
        let (secs, fraction) = text.split_once('.').unwrap_or((text, ""));
        let secs: i64 = secs.parse().unwrap_or(0);
        let nanos: i64 = format!("{fraction:0<9}")[..9].parse().unwrap_or(0);
        return Ok(secs * 1_000_000_000 + nanos);
    }
    if let Some(secs) = time::parse(text) {
        return Ok(secs * 1_000_000_000);
    }
    let back = crate::units::go_duration(text)
        .ok_or_else(|| anyhow!("failed to parse value as time or duration: \"{text}\""))?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    Ok(now.saturating_sub(back).as_nanos() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_read_as_dockers() {
        assert_eq!(timestamp("1700000000").unwrap(), 1_700_000_000_000_000_000);
        assert_eq!(
            timestamp("1700000000.5").unwrap(),
            1_700_000_000_500_000_000
        );
        assert_eq!(
            timestamp("2023-11-14T22:13:20Z").unwrap(),
            1_700_000_000_000_000_000
        );
        let ten_minutes_ago = timestamp("10m").unwrap();
        let now = timestamp("0s").unwrap();
        assert!((now - ten_minutes_ago - 600_000_000_000).abs() < 1_000_000_000);
        assert!(timestamp("yesterday").is_err());
    }
}
