//! `.agui-dev/logs/NAME.log`: each service's output without colour codes, truncated when `up`
//! starts so a file holds one run (restarts within the run append).

use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::Path;

pub struct LogFile {
    writer: BufWriter<File>,
}

pub fn open_all(dir: &Path, services: &[String]) -> io::Result<Vec<LogFile>> {
    fs::create_dir_all(dir)?;
    services
        .iter()
        .map(|name| {
            Ok(LogFile { writer: BufWriter::with_capacity(64 * 1024, File::create(dir.join(format!("{name}.log")))?) })
        })
        .collect()
}

impl LogFile {
    pub fn write_line(&mut self, line: &str) {
        // A full disk must not stop the stack; the terminal still shows the line.
        let _ = self.writer.write_all(line.as_bytes());
        let _ = self.writer.write_all(b"\n");
    }

    pub fn flush(&mut self) {
        let _ = self.writer.flush();
    }
}
