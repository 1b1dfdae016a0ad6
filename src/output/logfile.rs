//! `.agui-dev/logs/NAME.log`: each service's output without colour codes, truncated when `up`
//! starts so a file holds one run (restarts within the run append).
//!
//! Beside each log, `NAME.times` says when its lines arrived, so `agui-dev logs --since` can pick
//! lines by time while the log itself stays exactly what the service printed: one record
//! `BYTE_OFFSET UNIX_MILLIS` per write, for the lines of one read of the service's pipe. Lines of
//! one read arrived together, so they share their record.

use std::fs::{self, File};
use std::io::{self, BufRead, BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub struct LogFile {
    writer: BufWriter<File>,
    times: BufWriter<File>,
    /// Bytes written to the log so far.
    offset: u64,
}

pub fn open_all(dir: &Path, services: &[String]) -> io::Result<Vec<LogFile>> {
    fs::create_dir_all(dir)?;
    services.iter().map(|name| open(dir, name)).collect()
}

/// Creates (or empties) one service's log and its times.
pub fn open(dir: &Path, service: &str) -> io::Result<LogFile> {
    Ok(LogFile {
        writer: BufWriter::with_capacity(64 * 1024, File::create(log_path(dir, service))?),
        times: BufWriter::new(File::create(times_path(dir, service))?),
        offset: 0,
    })
}

pub fn log_path(dir: &Path, service: &str) -> PathBuf {
    dir.join(format!("{service}.log"))
}

fn times_path(dir: &Path, service: &str) -> PathBuf {
    dir.join(format!("{service}.times"))
}

fn millis(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

impl LogFile {
    /// Writes `lines` (joined by `\n`, no final newline) as they arrived at `at`.
    pub fn write_lines(&mut self, lines: &str, at: SystemTime) {
        // A full disk must not stop the stack; the terminal still shows the lines.
        let _ = writeln!(self.times, "{} {}", self.offset, millis(at));
        let _ = self.writer.write_all(lines.as_bytes());
        let _ = self.writer.write_all(b"\n");
        self.offset += lines.len() as u64 + 1;
    }

    pub fn flush(&mut self) {
        let _ = self.writer.flush();
        let _ = self.times.flush();
    }
}

/// One line read back from a log, with the time it arrived (when known).
#[derive(Debug, Clone)]
pub struct Logged {
    pub at: Option<SystemTime>,
    pub text: String,
}

/// Reads a service's log from `from` (a byte offset) to its last whole line. Returns the lines
/// and the offset just past them, where a follower goes on reading.
pub fn read_from(dir: &Path, service: &str, from: u64) -> io::Result<(Vec<Logged>, u64)> {
    let mut file = File::open(log_path(dir, service))?;
    file.seek(SeekFrom::Start(from))?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)?;
    let whole = bytes.iter().rposition(|b| *b == b'\n').map_or(0, |last| last + 1);
    let times = read_times(dir, service);
    let mut lines = Vec::new();
    let mut offset = from;
    for line in bytes[..whole].split(|b| *b == b'\n') {
        if offset >= from + whole as u64 {
            break;
        }
        lines.push(Logged { at: time_at(&times, offset), text: String::from_utf8_lossy(line).into_owned() });
        offset += line.len() as u64 + 1;
    }
    Ok((lines, from + whole as u64))
}

/// The log's current size, to notice growth (new lines) and truncation (a new run).
pub fn size(dir: &Path, service: &str) -> Option<u64> {
    fs::metadata(log_path(dir, service)).ok().map(|m| m.len())
}

/// `(offset, time)` records, in offset order; empty when the file is missing (an older log).
fn read_times(dir: &Path, service: &str) -> Vec<(u64, SystemTime)> {
    let Ok(file) = File::open(times_path(dir, service)) else { return Vec::new() };
    BufReader::new(file)
        .lines()
        .map_while(Result::ok)
        .filter_map(|line| {
            let (offset, ms) = line.split_once(' ')?;
            Some((offset.parse().ok()?, UNIX_EPOCH + Duration::from_millis(ms.parse().ok()?)))
        })
        .collect()
}

/// The time of the record that covers `offset`: the last one starting at or before it.
fn time_at(times: &[(u64, SystemTime)], offset: u64) -> Option<SystemTime> {
    let index = times.partition_point(|(start, _)| *start <= offset);
    index.checked_sub(1).map(|i| times[i].1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_read_back_carry_the_time_of_the_write_they_came_in() {
        let dir = tempfile::tempdir().unwrap();
        let mut logs = open_all(dir.path(), &["api".to_owned()]).unwrap();
        let first = UNIX_EPOCH + Duration::from_secs(1_000);
        let second = UNIX_EPOCH + Duration::from_secs(2_000);
        logs[0].write_lines("a\nb", first);
        logs[0].write_lines("c", second);
        logs[0].flush();
        let (lines, end) = read_from(dir.path(), "api", 0).unwrap();
        let seen: Vec<(&str, Option<SystemTime>)> = lines.iter().map(|l| (l.text.as_str(), l.at)).collect();
        assert_eq!(seen, [("a", Some(first)), ("b", Some(first)), ("c", Some(second))]);
        assert_eq!(end, 6);
        let (rest, _) = read_from(dir.path(), "api", 4).unwrap();
        assert_eq!(rest.len(), 1);
        assert_eq!(rest[0].text, "c");
        assert_eq!(rest[0].at, Some(second));
    }
}
