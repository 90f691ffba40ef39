//! `GET /containers/{id}/logs?stdout=&stderr=&follow=&tail=&timestamps=&since=`: the
//! json-file log the relay writes, as Docker sends it: raw for a container with a terminal,
//! otherwise in the multiplexed frames (stream byte 1 or 2, three zero bytes, a big-endian
//! length, the bytes).

use crate::body::Body;
use crate::containers::find;
use crate::reply::{ApiError, Reply, with_type};
use crate::request::Request;
use crate::service::State;
use berth_engine::containers::Containers;
use berth_engine::record::LogDriver;
use berth_engine::{supervisor, time};
use bytes::Bytes;
use hyper::StatusCode;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::time::Duration;

/// What to send of each log entry.
#[derive(Clone, Copy)]
struct Choice {
    stdout: bool,
    stderr: bool,
    timestamps: bool,
    /// Multiplexed frames (no terminal) or raw bytes.
    framed: bool,
    since: Option<i64>,
}

/// One json-file line as it goes to the client, or `None` when it is not sent.
fn entry(line: &str, choice: Choice) -> Option<Bytes> {
    let entry: serde_json::Value = serde_json::from_str(line).ok()?;
    let when = entry["time"].as_str().unwrap_or("");
    if choice
        .since
        .is_some_and(|s| time::parse(when).is_some_and(|t| t < s))
    {
        return None;
    }
    let stderr = entry["stream"] == "stderr";
    if (stderr && !choice.stderr) || (!stderr && !choice.stdout) {
        return None;
    }
    let text = entry["log"].as_str().unwrap_or("");
    let payload = if choice.timestamps {
        format!("{when} {text}")
    } else {
        text.to_owned()
    };
    Some(if choice.framed {
        frame(if stderr { 2 } else { 1 }, payload.as_bytes())
    } else {
        Bytes::from(payload)
    })
}

/// Docker's stream frame: `[stream, 0, 0, 0, len (u32 big-endian)]` then the bytes.
pub fn frame(stream: u8, bytes: &[u8]) -> Bytes {
    let mut out = Vec::with_capacity(8 + bytes.len());
    out.extend_from_slice(&[stream, 0, 0, 0]);
    out.extend_from_slice(&(bytes.len() as u32).to_be_bytes());
    out.extend_from_slice(bytes);
    Bytes::from(out)
}

/// `GET /containers/{id}/logs`
pub fn logs(state: &State, name: &str, request: &Request) -> Reply {
    let all = Containers::new(&state.roots.root);
    let record = find(&all, name)?;
    if record.log_driver == LogDriver::None {
        return Err(ApiError::bad(
            "configured logging driver does not support reading",
        ));
    }
    let choice = Choice {
        stdout: request.flag("stdout"),
        stderr: request.flag("stderr"),
        timestamps: request.flag("timestamps"),
        framed: !record.tty,
        since: request.int("since")?.filter(|&s| s > 0),
    };
    if !choice.stdout && !choice.stderr {
        return Err(ApiError::bad(
            "Bad parameters: you must choose at least one stream",
        ));
    }
    let tail = match request.param("tail").unwrap_or("all") {
        "all" | "" | "-1" => None,
        n => Some(
            n.parse::<usize>()
                .map_err(|_| ApiError::bad(format!("invalid value for tail: {n:?}")))?,
        ),
    };
    let follow = request.flag("follow");
    let path = supervisor::log_path(&all, &record.id);
    let content_type = if choice.framed {
        "application/vnd.docker.multiplexed-stream"
    } else {
        "application/vnd.docker.raw-stream"
    };
    let (tx, body) = Body::channel();
    state.runtime.spawn_blocking(move || {
        let file = match std::fs::File::open(&path) {
            Ok(file) => file,
            Err(_) if !follow => return,
            // The container has not written yet.
            Err(_) => match std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .read(true)
                .open(&path)
            {
                Ok(file) => file,
                Err(_) => return,
            },
        };
        let mut reader = BufReader::new(file);
        let mut lines = Vec::new();
        let mut line = String::new();
        while reader.read_line(&mut line).is_ok_and(|n| n > 0) && line.ends_with('\n') {
            lines.push(std::mem::take(&mut line));
        }
        let skip = tail.map_or(0, |n| lines.len().saturating_sub(n));
        for l in &lines[skip..] {
            if let Some(bytes) = entry(l, choice)
                && tx.blocking_send(bytes).is_err()
            {
                return;
            }
        }
        if !follow {
            return;
        }
        // Go on from the end of the last whole line read.
        let mut position: u64 = lines.iter().map(|l| l.len() as u64).sum();
        let mut file = reader.into_inner();
        let mut pending = String::new();
        loop {
            let running = all.get(&record.id).is_ok_and(|r| r.is_running());
            let mut chunk = String::new();
            let n = file
                .seek(SeekFrom::Start(position))
                .and_then(|_| file.read_to_string(&mut chunk))
                .unwrap_or(0);
            position += n as u64;
            pending.push_str(&chunk);
            while let Some(end) = pending.find('\n') {
                let l: String = pending.drain(..=end).collect();
                if let Some(bytes) = entry(&l, choice)
                    && tx.blocking_send(bytes).is_err()
                {
                    return;
                }
            }
            if n == 0 && !running {
                return;
            }
            if n == 0 {
                if tx.is_closed() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    });
    Ok(with_type(StatusCode::OK, content_type, body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_framed_by_stream_and_filtered() {
        let choice = Choice {
            stdout: true,
            stderr: false,
            timestamps: false,
            framed: true,
            since: None,
        };
        let out = r#"{"log":"hi\n","stream":"stdout","time":"2026-12-04T10:00:00.000000000Z"}"#;
        let err = r#"{"log":"oops\n","stream":"stderr","time":"2026-12-04T10:00:00.000000000Z"}"#;
        assert_eq!(
            &entry(out, choice).unwrap()[..],
            b"\x01\0\0\0\0\0\0\x03hi\n"
        );
        assert!(entry(err, choice).is_none());
        let raw = Choice {
            framed: false,
            timestamps: true,
            stderr: true,
            ..choice
        };
        assert_eq!(
            &entry(err, raw).unwrap()[..],
            b"2026-12-04T10:00:00.000000000Z oops\n"
        );
        assert!(entry("not json", raw).is_none());
    }
}
