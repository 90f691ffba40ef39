//! Reading the events log: the events of a time span (`--since`, `--until`), then, until
//! `--until` (or for ever), each new one as it is written. No daemon is asked: an inotify
//! watch on the log's directory wakes the reader when a berth process appends a line or starts
//! the log over.

use super::{Event, EventFilter, dir, log_path};
use rustix::fs::inotify;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

/// Which events to show.
#[derive(Debug, Clone, Default)]
pub struct Replay {
    /// From this time on (nanoseconds since the epoch), the past ones included.
    pub since: Option<i64>,
    /// Up to this time: the command ends then (at once when it has passed).
    pub until: Option<i64>,
    /// Only those that pass these.
    pub filter: EventFilter,
}

/// Hands each event that `replay` asks for to `show`, which returns false to stop (its reader
/// went away). Past events come first when `since` or `until` is given (Docker replays then);
/// then new ones, until `until` passes or forever.
pub fn replay(
    root: &Path,
    replay: &Replay,
    show: &mut dyn FnMut(&Event) -> bool,
) -> io::Result<()> {
    let dir = dir(root);
    std::fs::create_dir_all(&dir)?;
    let watch = inotify::init(inotify::CreateFlags::CLOEXEC | inotify::CreateFlags::NONBLOCK)?;
    inotify::add_watch(
        &watch,
        &dir,
        inotify::WatchFlags::MODIFY | inotify::WatchFlags::CREATE | inotify::WatchFlags::MOVED_TO,
    )?;
    let path = log_path(root);
    let mut log = Log::open(&path)?;
    let mut pass = |event: &Event| {
        let in_span = replay.since.is_none_or(|since| event.time_nano >= since)
            && replay.until.is_none_or(|until| event.time_nano <= until);
        !in_span || !replay.filter.matches(event) || show(event)
    };
    if replay.since.is_some() || replay.until.is_some() {
        if let Ok(older) = File::open(path.with_extension("log.1")) {
            let mut older = Log::from(older);
            if !older.read_new(&mut pass)? {
                return Ok(());
            }
        }
        if !log.read_new(&mut pass)? {
            return Ok(());
        }
    } else {
        log.file.seek(SeekFrom::End(0))?;
    }
    let mut buf = [0u8; 4096];
    loop {
        let left = match replay.until {
            Some(until) => match until - now_nanos() {
                ..=0 => return Ok(()),
                left => Some(rustix::event::Timespec {
                    tv_sec: left / 1_000_000_000,
                    tv_nsec: left % 1_000_000_000,
                }),
            },
            None => None,
        };
        let mut fds = [rustix::event::PollFd::new(
            &watch,
            rustix::event::PollFlags::IN,
        )];
        match rustix::event::poll(&mut fds, left.as_ref()) {
            Ok(_) | Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(e.into()),
        }
        while rustix::io::read(&watch, &mut buf).is_ok_and(|n| n > 0) {}
        if !log.read_new(&mut pass)? {
            return Ok(());
        }
        // Started over by a writer: the rest of the old file, then the new one.
        if std::fs::metadata(&path).is_ok_and(|m| m.ino() != log.inode) {
            log = Log::open(&path)?;
            log.file.seek(SeekFrom::Start(0))?;
            if !log.read_new(&mut pass)? {
                return Ok(());
            }
        }
    }
}

/// Now, in nanoseconds since the epoch.
fn now_nanos() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos() as i64
}

/// An events file read line by line as it grows.
struct Log {
    file: File,
    inode: u64,
    pending: Vec<u8>,
}

impl Log {
    /// The log at `path`, made when missing (so that a reader can follow it before any
    /// event), read from its start.
    fn open(path: &Path) -> io::Result<Log> {
        let file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .mode(0o600)
            .open(path)?;
        Ok(Log::from(file))
    }

    /// Each complete line from where the last read stopped, parsed, to `pass`; false when
    /// `pass` asked to stop. Lines that are not events are skipped.
    fn read_new(&mut self, pass: &mut dyn FnMut(&Event) -> bool) -> io::Result<bool> {
        self.file.read_to_end(&mut self.pending)?;
        let complete = self
            .pending
            .iter()
            .rposition(|b| *b == b'\n')
            .map_or(0, |end| end + 1);
        let lines: Vec<u8> = self.pending.drain(..complete).collect();
        for line in lines.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
            if let Ok(event) = serde_json::from_slice::<Event>(line)
                && !pass(&event)
            {
                return Ok(false);
            }
        }
        Ok(true)
    }
}

impl From<File> for Log {
    fn from(file: File) -> Log {
        let inode = file.metadata().map_or(0, |m| m.ino());
        Log {
            file,
            inode,
            pending: Vec::new(),
        }
    }
}
