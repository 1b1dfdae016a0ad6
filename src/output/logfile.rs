//! `.agui-dev/logs/NAME.log`: each service's output without colour codes, made anew when `up`
//! starts so a file holds one run (restarts within the run append).
//!
//! A new run writes fresh files and renames them over the old ones rather than truncating in
//! place: a follower (`logs -f`) then tells a new run by the file's identity (device and inode),
//! not by its size, which a new run that writes fast can outgrow between two polls. The times file
//! starts with `log DEV INO`, the identity of the log it belongs to, and is renamed into place
//! before the log, so a reader that opens a log and then the times can check they are a pair.
//!
//! Beside each log, `NAME.times` says when its lines arrived, so `agui-dev logs --since` can pick
//! lines by time while the log itself stays exactly what the service printed: one record
//! `BYTE_OFFSET UNIX_MILLIS` per write, for the lines of one read of the service's pipe. Lines of
//! one read arrived together, so they share their record.

use std::fs::{self, File};
use std::io::{self, BufRead, BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::MetadataExt;
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

/// Starts one service's log and its times for a new run, replacing the previous run's files.
pub fn open(dir: &Path, service: &str) -> io::Result<LogFile> {
    let (log, times) = (log_path(dir, service), times_path(dir, service));
    let (new_log, new_times) = (log.with_extension("log.new"), times.with_extension("times.new"));
    let writer = File::create(&new_log)?;
    let id = identity(&writer.metadata()?);
    let mut times_file = BufWriter::new(File::create(&new_times)?);
    writeln!(times_file, "log {} {}", id.0, id.1)?;
    times_file.flush()?;
    // Times first: whoever finds the new log finds its times already in place.
    fs::rename(&new_times, &times)?;
    fs::rename(&new_log, &log)?;
    Ok(LogFile { writer: BufWriter::with_capacity(64 * 1024, writer), times: times_file, offset: 0 })
}

/// `(device, inode)`: what tells one run's log from the next.
fn identity(meta: &fs::Metadata) -> (u64, u64) {
    (meta.dev(), meta.ino())
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
    let times = File::open(times_path(dir, service)).map(|file| parse_times(&file)).unwrap_or_default();
    read_lines(&mut file, &times, from)
}

fn read_lines(file: &mut File, times: &[(u64, SystemTime)], from: u64) -> io::Result<(Vec<Logged>, u64)> {
    file.seek(SeekFrom::Start(from))?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)?;
    let whole = bytes.iter().rposition(|b| *b == b'\n').map_or(0, |last| last + 1);
    let mut lines = Vec::new();
    let mut offset = from;
    for line in bytes[..whole].split(|b| *b == b'\n') {
        if offset >= from + whole as u64 {
            break;
        }
        lines.push(Logged { at: time_at(times, offset), text: String::from_utf8_lossy(line).into_owned() });
        offset += line.len() as u64 + 1;
    }
    Ok((lines, from + whole as u64))
}

/// One run's log held open by a follower. Holding it keeps its inode alive, so the next run's
/// file cannot be given the same number: a different identity at the path is always a new run.
pub struct Tail {
    log: File,
    /// The times of this run, when they are there (an older agui-dev wrote none).
    times: Option<File>,
    id: (u64, u64),
    /// Where the next read starts: just past the last whole line read.
    offset: u64,
}

impl Tail {
    /// The current run's log and its times. `None` when there is no log, or when the times at the
    /// path belong to another log (a new run is being put in place: the caller tries again).
    pub fn open(dir: &Path, service: &str) -> Option<Tail> {
        let log = File::open(log_path(dir, service)).ok()?;
        let id = identity(&log.metadata().ok()?);
        let times = File::open(times_path(dir, service)).ok();
        if let Some(times) = &times {
            let mut first = String::new();
            let _ = BufReader::new(times).read_line(&mut first);
            let of = first.strip_prefix("log ").and_then(|rest| {
                let (dev, ino) = rest.trim().split_once(' ')?;
                Some((dev.parse().ok()?, ino.parse().ok()?))
            });
            // A times file with no header is an older agui-dev's, and pairs with its log.
            if of.is_some_and(|of| of != id) {
                return None;
            }
        }
        Some(Tail { log, times, id, offset: 0 })
    }

    /// The whole lines written since the last read.
    pub fn read(&mut self) -> io::Result<Vec<Logged>> {
        let size = self.log.metadata()?.len();
        if size == self.offset {
            return Ok(Vec::new());
        }
        let times = self.times.as_ref().map(parse_times).unwrap_or_default();
        let (lines, end) = read_lines(&mut self.log, &times, self.offset)?;
        self.offset = end;
        Ok(lines)
    }

    /// The log was emptied in place (by an agui-dev from before logs were renamed into place);
    /// the next read starts over.
    pub fn truncated(&mut self) -> bool {
        let shrank = self.log.metadata().is_ok_and(|meta| meta.len() < self.offset);
        if shrank {
            self.offset = 0;
        }
        shrank
    }

    /// Another run's log is at the path now: read what is left here, then open that one.
    pub fn replaced(&self, dir: &Path, service: &str) -> bool {
        fs::metadata(log_path(dir, service)).is_ok_and(|meta| identity(&meta) != self.id)
    }
}

/// `(offset, time)` records, in offset order; the `log DEV INO` header is not one.
fn parse_times(file: &File) -> Vec<(u64, SystemTime)> {
    let mut file = file;
    if file.seek(SeekFrom::Start(0)).is_err() {
        return Vec::new();
    }
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
