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
use std::io::{self, BufWriter, Read, Seek, SeekFrom, Write};
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
        // Records first: a follower that sees new lines then finds their time already there.
        let _ = self.times.flush();
        let _ = self.writer.flush();
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
    let (lines, end, _) = read_lines(&mut file, &times, from)?;
    Ok((lines, end))
}

/// The last `n` whole lines of a service's log, oldest first, read back from the end of the log
/// and of its times: a long log costs no more than a short one. Also returns the bytes read.
pub fn recent(dir: &Path, service: &str, n: usize) -> io::Result<(Vec<Logged>, u64)> {
    let mut log = File::open(log_path(dir, service))?;
    // Back to the line end before the last `n` ones: the first line starts just past it.
    let (start, bytes, mut read) = back_to(&mut log, |bytes| {
        let ends: Vec<usize> = bytes.iter().enumerate().filter(|(_, b)| **b == b'\n').map(|(i, _)| i).collect();
        (ends.len() > n).then(|| ends[ends.len() - n - 1] + 1)
    })?;
    let mut times = Vec::new();
    if let Ok(mut file) = File::open(times_path(dir, service)) {
        // Back to a whole record that starts at or before the first line, for that line's time.
        let (_, records, times_read) = back_to(&mut file, |bytes| {
            let first_whole = bytes.iter().position(|b| *b == b'\n')? + 1;
            let first = parse_records(&bytes[first_whole..]).into_iter().next()?;
            (first.0 <= start).then_some(first_whole)
        })?;
        read += times_read;
        // From a line's start (or the file's) to the last whole record.
        let whole = records.iter().rposition(|b| *b == b'\n').map_or(0, |last| last + 1);
        times = parse_records(&records[..whole]);
    }
    let whole = bytes.iter().rposition(|b| *b == b'\n').map_or(0, |last| last + 1);
    let (lines, _) = split_lines(&bytes[..whole], start, &times);
    Ok((lines, read))
}

/// Reads `file` backwards, a block at a time (each twice the last), until `enough` finds in the
/// bytes from the read position to the end the offset (relative to them) it needs, or the file
/// begins. Returns that offset made absolute (0 at the beginning), the bytes from it on, and how
/// many were read.
fn back_to(file: &mut File, enough: impl Fn(&[u8]) -> Option<usize>) -> io::Result<(u64, Vec<u8>, u64)> {
    let size = file.metadata()?.len();
    let mut position = size;
    let mut block = 64 * 1024;
    let mut bytes = Vec::new();
    loop {
        let from = position.saturating_sub(block);
        let mut chunk = vec![0; (position - from) as usize];
        file.seek(SeekFrom::Start(from))?;
        file.read_exact(&mut chunk)?;
        chunk.extend_from_slice(&bytes);
        bytes = chunk;
        position = from;
        if let Some(found) = enough(&bytes) {
            return Ok((position + found as u64, bytes.split_off(found), size - position));
        }
        if position == 0 {
            return Ok((0, bytes, size));
        }
        block *= 2;
    }
}

/// Reads `file` from `from` to its last whole line: the lines, the offset past them and the
/// bytes read.
fn read_lines(file: &mut File, times: &[(u64, SystemTime)], from: u64) -> io::Result<(Vec<Logged>, u64, u64)> {
    file.seek(SeekFrom::Start(from))?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)?;
    let whole = bytes.iter().rposition(|b| *b == b'\n').map_or(0, |last| last + 1);
    let (lines, end) = split_lines(&bytes[..whole], from, times);
    Ok((lines, end, bytes.len() as u64))
}

/// The lines of `bytes` (whole lines, read from the log at `from`), each with its time.
fn split_lines(bytes: &[u8], from: u64, times: &[(u64, SystemTime)]) -> (Vec<Logged>, u64) {
    let mut lines = Vec::new();
    let mut offset = from;
    for line in bytes.split(|b| *b == b'\n') {
        if offset >= from + bytes.len() as u64 {
            break;
        }
        lines.push(Logged { at: time_at(times, offset), text: String::from_utf8_lossy(line).into_owned() });
        offset += line.len() as u64 + 1;
    }
    (lines, from + bytes.len() as u64)
}

/// One run's log held open by a follower. Holding it keeps its inode alive, so the next run's
/// file cannot be given the same number: a different identity at the path is always a new run.
pub struct Tail {
    log: File,
    /// The times of this run, when they are there (an older agui-dev wrote none).
    times: Option<Times>,
    id: (u64, u64),
    /// Where the next read starts: just past the last whole line read.
    offset: u64,
    /// Bytes read from the log and its times since opening: each is read once, however often
    /// the follower polls.
    bytes_read: u64,
}

impl Tail {
    /// The current run's log and its times. `None` when there is no log, or when the times at the
    /// path belong to another log (a new run is being put in place: the caller tries again).
    pub fn open(dir: &Path, service: &str) -> Option<Tail> {
        let log = File::open(log_path(dir, service)).ok()?;
        let id = identity(&log.metadata().ok()?);
        let mut tail = Tail { log, times: None, id, offset: 0, bytes_read: 0 };
        if let Ok(mut file) = File::open(times_path(dir, service)) {
            // The header, `log DEV INO`, is at most 46 bytes.
            let mut head = [0; 64];
            let read = file.read(&mut head).unwrap_or(0);
            tail.bytes_read += read as u64;
            let line = head[..read].split(|b| *b == b'\n').next().unwrap_or_default();
            let of = std::str::from_utf8(line).ok().and_then(|line| line.strip_prefix("log ")).and_then(|rest| {
                let (dev, ino) = rest.trim().split_once(' ')?;
                Some((dev.parse().ok()?, ino.parse().ok()?))
            });
            // A times file with no header is an older agui-dev's, and pairs with its log.
            if of.is_some_and(|of| of != id) {
                return None;
            }
            let parsed = if of.is_some() { line.len() as u64 + 1 } else { 0 };
            tail.times = Some(Times { file, parsed, records: Vec::new() });
        }
        Some(tail)
    }

    /// The whole lines written since the last read.
    pub fn read(&mut self) -> io::Result<Vec<Logged>> {
        let size = self.log.metadata()?.len();
        if size == self.offset {
            return Ok(Vec::new());
        }
        if let Some(times) = &mut self.times {
            // Without its times a line is still worth showing.
            self.bytes_read += times.catch_up().unwrap_or(0);
        }
        let records = self.times.as_ref().map_or(&[][..], |times| &times.records[..]);
        let (lines, end, read) = read_lines(&mut self.log, records, self.offset)?;
        self.bytes_read += read;
        self.offset = end;
        if let Some(times) = &mut self.times {
            times.forget_before(end);
        }
        Ok(lines)
    }

    /// The bytes read from the log and its times so far.
    pub fn bytes_read(&self) -> u64 {
        self.bytes_read
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

/// A follower's times file, read as it grows: each poll parses only the records appended since.
struct Times {
    file: File,
    /// Just past the last whole record parsed.
    parsed: u64,
    /// The last record at or before the follower's offset, and every later one.
    records: Vec<(u64, SystemTime)>,
}

impl Times {
    /// Parses the whole records appended since the last call (a half-written one waits for the
    /// next); returns the bytes read.
    fn catch_up(&mut self) -> io::Result<u64> {
        if self.file.metadata()?.len() < self.parsed {
            // Emptied in place, with its log, by an agui-dev from before logs were renamed.
            self.parsed = 0;
            self.records.clear();
        }
        self.file.seek(SeekFrom::Start(self.parsed))?;
        let mut bytes = Vec::new();
        self.file.read_to_end(&mut bytes)?;
        let whole = bytes.iter().rposition(|b| *b == b'\n').map_or(0, |last| last + 1);
        self.records.extend(parse_records(&bytes[..whole]));
        self.parsed += whole as u64;
        Ok(bytes.len() as u64)
    }

    /// Drops the records no line at or after `offset` can need.
    fn forget_before(&mut self, offset: u64) {
        let needed = self.records.partition_point(|(start, _)| *start <= offset).saturating_sub(1);
        self.records.drain(..needed);
    }
}

/// `(offset, time)` records of a whole times file, in offset order.
fn parse_times(file: &File) -> Vec<(u64, SystemTime)> {
    let mut file = file;
    let mut bytes = Vec::new();
    if file.seek(SeekFrom::Start(0)).is_err() || file.read_to_end(&mut bytes).is_err() {
        return Vec::new();
    }
    let whole = bytes.iter().rposition(|b| *b == b'\n').map_or(0, |last| last + 1);
    parse_records(&bytes[..whole])
}

/// The records of whole lines of a times file; the `log DEV INO` header is not one.
fn parse_records(bytes: &[u8]) -> Vec<(u64, SystemTime)> {
    bytes
        .split(|b| *b == b'\n')
        .filter_map(|line| {
            let (offset, ms) = std::str::from_utf8(line).ok()?.split_once(' ')?;
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
    /// A log of `writes` writes of two 60-byte lines each, the write `i` at second `1_000 + i`.
    fn big_log(dir: &Path, writes: u64) -> LogFile {
        let mut logs = open_all(dir, &["api".to_owned()]).unwrap();
        for i in 0..writes {
            logs[0].write_lines(&format!("{i:>60}\n{:>60}", "second"), UNIX_EPOCH + Duration::from_secs(1_000 + i));
        }
        logs[0].flush();
        logs.pop().unwrap()
    }

    fn sizes(dir: &Path) -> u64 {
        ["api.log", "api.times"].iter().map(|f| fs::metadata(dir.join(f)).unwrap().len()).sum()
    }

    #[test]
    fn a_follower_reads_each_byte_of_a_big_log_once_however_often_it_polls() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = big_log(dir.path(), 20_000);
        let mut tail = Tail::open(dir.path(), "api").unwrap();
        assert_eq!(tail.read().unwrap().len(), 40_000);
        for poll in 0..200u64 {
            let at = UNIX_EPOCH + Duration::from_secs(100_000 + poll);
            log.write_lines(&format!("new {poll}"), at);
            log.flush();
            let lines = tail.read().unwrap();
            let seen: Vec<(&str, Option<SystemTime>)> = lines.iter().map(|l| (l.text.as_str(), l.at)).collect();
            assert_eq!(seen, [(format!("new {poll}").as_str(), Some(at))], "poll {poll}");
            assert!(tail.read().unwrap().is_empty(), "nothing new, nothing read");
        }
        // Each byte once; the header of the times file and a re-read partial record may add a few.
        let size = sizes(dir.path());
        assert!(
            tail.bytes_read() <= size + 1024,
            "200 polls read {} bytes of files holding {size}: the whole file again on each poll",
            tail.bytes_read()
        );
    }

    #[test]
    fn a_times_record_half_written_is_read_when_it_is_whole() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = big_log(dir.path(), 1);
        let mut tail = Tail::open(dir.path(), "api").unwrap();
        assert_eq!(tail.read().unwrap().len(), 2);
        // The log's bytes are in, the record of their write only in part (`1 22` of `122 7000`).
        let mut times = fs::OpenOptions::new().append(true).open(dir.path().join("api.times")).unwrap();
        times.write_all(b"122 7").unwrap();
        log.writer.write_all(b"late\n").unwrap();
        log.writer.flush().unwrap();
        let early = tail.read().unwrap();
        assert_eq!(early.len(), 1);
        assert_eq!(early[0].at, Some(UNIX_EPOCH + Duration::from_secs(1_000)), "the last whole record's time");
        times.write_all(b"000\n").unwrap();
        log.writer.write_all(b"later\n").unwrap();
        log.writer.flush().unwrap();
        let later = tail.read().unwrap();
        assert_eq!(later[0].text, "later");
        assert_eq!(later[0].at, Some(UNIX_EPOCH + Duration::from_secs(7)), "not 7 ms: the record read whole");
    }

    #[test]
    fn the_last_lines_of_a_big_log_are_read_from_its_end() {
        let dir = tempfile::tempdir().unwrap();
        let _log = big_log(dir.path(), 20_000);
        let (lines, bytes_read) = recent(dir.path(), "api", 501).unwrap();
        assert_eq!(lines.len(), 501);
        // Lines 39_499..40_000: the second line of write 19_749, then both lines of the last 250.
        assert_eq!(lines[0].text.trim(), "second");
        assert_eq!(lines[0].at, Some(UNIX_EPOCH + Duration::from_secs(1_000 + 19_749)));
        assert_eq!(lines[1].text.trim(), "19750");
        assert_eq!(lines[500].text.trim(), "second");
        assert_eq!(lines[500].at, Some(UNIX_EPOCH + Duration::from_secs(1_000 + 19_999)));
        let size = sizes(dir.path());
        assert!(bytes_read < 200 * 1024, "{bytes_read} bytes read of {size} for 501 lines");
        // Fewer lines than asked for: all of them.
        let dir = tempfile::tempdir().unwrap();
        let _log = big_log(dir.path(), 3);
        let (lines, _) = recent(dir.path(), "api", 500).unwrap();
        let texts: Vec<String> = lines.iter().map(|l| l.text.trim().to_owned()).collect();
        assert_eq!(texts, ["0", "second", "1", "second", "2", "second"]);
        assert_eq!(lines[3].at, Some(UNIX_EPOCH + Duration::from_secs(1_001)));
    }
}
