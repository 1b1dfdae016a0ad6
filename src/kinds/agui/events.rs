//! What agui-dev knows about AG-UI servers on the wire: the run request and the server-sent
//! events of the answer (the rules those events must follow are in `rules`).

use serde_json::Value;

/// A minimal `RunAgentInput` asking for one answer.
pub fn run_input(prompt: &str) -> String {
    serde_json::json!({
        "threadId": "agui-dev-smoke",
        "runId": format!("smoke-{}", crate::secret::random_hex(4)),
        "state": {},
        "messages": [{"id": "smoke-user-1", "role": "user", "content": prompt}],
        "tools": [],
        "context": [],
        "forwardedProps": {},
    })
    .to_string()
}

/// The most one SSE event may hold: its `data:` lines and the line still being read. An AG-UI
/// event is one JSON object; the largest real ones (a state snapshot, a tool result carrying a
/// file) run to a megabyte or two. 16 MiB is far past those and still bounds what a broken or
/// hostile server can make agui-dev hold: without it, a line that never ends grows without end.
pub const MAX_SSE_EVENT: usize = 16 * 1024 * 1024;

/// Why an SSE body could not be read as AG-UI events.
/// What is wrong with a field of an event, in words for the rule's finding.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Malformed(pub String);

#[derive(Debug, thiserror::Error)]
pub enum SseError {
    #[error(
        "an event of the stream passed {} without ending (the most agui-dev holds of one event); stopped reading",
        crate::http::size(MAX_SSE_EVENT)
    )]
    TooLong,
    #[error("an event is not JSON ({source}): {frame}")]
    NotJson { frame: String, source: serde_json::Error },
}

/// The `data:` payloads of an SSE body, one per event (the lines of one event joined), unparsed:
/// the rules decide what a frame that is not JSON means. An event over `MAX_SSE_EVENT` is an error.
pub fn sse_frames(body: &str) -> Result<Vec<String>, SseError> {
    let mut decoder = SseDecoder::default();
    let mut frames = decoder.push(body.as_bytes())?;
    frames.extend(decoder.finish());
    Ok(frames)
}

/// Splits an SSE stream into the `data:` payloads of its events as bytes arrive, whatever the
/// chunking (an event, a line or a UTF-8 character may be cut between two chunks). Each byte is
/// looked at once, however long the line it belongs to.
#[derive(Debug, Default)]
pub struct SseDecoder {
    /// Bytes of the line not yet ended; none of them is a newline.
    partial: Vec<u8>,
    /// The `data:` lines of the event not yet ended by a blank line.
    data: Vec<String>,
    /// Their bytes, to hold the event to `MAX_SSE_EVENT`.
    data_bytes: usize,
}

impl SseDecoder {
    /// Takes the next chunk; returns the payloads of the events it completed, or an error once
    /// the event being read passes `MAX_SSE_EVENT` (the stream cannot be read on from there).
    pub fn push(&mut self, chunk: &[u8]) -> Result<Vec<String>, SseError> {
        let mut frames = Vec::new();
        let mut line_start = 0;
        for (at, _) in chunk.iter().enumerate().filter(|(_, b)| **b == b'\n') {
            self.partial.extend_from_slice(&chunk[line_start..at]);
            let bytes = std::mem::take(&mut self.partial);
            let line = String::from_utf8_lossy(&bytes);
            self.line(line.strip_suffix('\r').unwrap_or(&line), &mut frames);
            self.check()?;
            line_start = at + 1;
        }
        self.partial.extend_from_slice(&chunk[line_start..]);
        self.check()?;
        Ok(frames)
    }

    /// The stream ended: an event cut off without its blank line still counts.
    pub fn finish(&mut self) -> Option<String> {
        let rest = std::mem::take(&mut self.partial);
        let mut frames = Vec::new();
        if !rest.is_empty() {
            self.line(&String::from_utf8_lossy(&rest), &mut frames);
        }
        self.line("", &mut frames);
        frames.pop()
    }

    fn check(&self) -> Result<(), SseError> {
        let held = self.partial.len() + self.data_bytes;
        if held > MAX_SSE_EVENT {
            return Err(SseError::TooLong);
        }
        Ok(())
    }

    fn line(&mut self, line: &str, frames: &mut Vec<String>) {
        if line.is_empty() {
            if !self.data.is_empty() {
                frames.push(std::mem::take(&mut self.data).join("\n"));
                self.data_bytes = 0;
            }
        } else if let Some(data) = line.strip_prefix("data:") {
            let data = data.strip_prefix(' ').unwrap_or(data);
            // The `\n` that will join it to the next.
            self.data_bytes += data.len() + 1;
            self.data.push(data.to_owned());
        }
    }
}

/// The events of an SSE body, each parsed as JSON.
pub fn parse_sse(body: &str) -> Result<Vec<Value>, SseError> {
    sse_frames(body)?
        .into_iter()
        .map(|frame| serde_json::from_str(&frame).map_err(|source| SseError::NotJson { frame, source }))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sse_is_parsed_per_event() {
        let body = "data: {\"type\":\"RUN_STARTED\"}\n\n: comment\n\ndata: {\"type\":\"RUN_FINISHED\"}\n\n";
        assert_eq!(parse_sse(body).unwrap().len(), 2);
        assert!(parse_sse("data: nope\n\n").is_err());
        assert_eq!(sse_frames("data: a\ndata: b\n\n").unwrap(), ["a\nb"]);
        assert_eq!(sse_frames("data: a\r\n\r\ndata: cut").unwrap(), ["a", "cut"]);
    }

    #[test]
    fn chunks_cut_anywhere_give_the_same_frames() {
        let body = "data: {\"t\":\"é\"}\r\n\r\n: ping\n\ndata: x\ndata: y\n\n";
        for cut in 0..body.len() {
            let mut decoder = SseDecoder::default();
            let mut frames = decoder.push(&body.as_bytes()[..cut]).unwrap();
            frames.extend(decoder.push(&body.as_bytes()[cut..]).unwrap());
            frames.extend(decoder.finish());
            assert_eq!(frames, ["{\"t\":\"é\"}", "x\ny"], "cut at {cut}");
        }
    }

    #[test]
    fn an_event_is_held_to_its_cap_whether_one_endless_line_or_many_data_lines() {
        let chunk = vec![b'x'; 64 * 1024];
        // One line that never ends: refused once past the cap, read in chunks as a stream comes.
        let mut decoder = SseDecoder::default();
        decoder.push(b"data: ").unwrap();
        let mut pushed = 6;
        let error = loop {
            match decoder.push(&chunk) {
                Ok(frames) => assert!(frames.is_empty()),
                Err(error) => break error,
            }
            pushed += chunk.len();
            assert!(pushed <= MAX_SSE_EVENT, "not refused at the cap");
        };
        assert!(error.to_string().contains("an event of the stream passed 16 MiB without ending"), "{error}");
        // Lines that each end, of one event that does not.
        let mut line = b"data: ".to_vec();
        line.extend_from_slice(&chunk);
        line.push(b'\n');
        let mut decoder = SseDecoder::default();
        let lines = MAX_SSE_EVENT / line.len() + 1;
        let refused = (0..lines).map(|_| decoder.push(&line)).find_map(Result::err);
        assert!(refused.is_some_and(|e| e.to_string().contains("16 MiB")));
        // An event of almost the cap, then a blank line: one frame, and the count starts over.
        let mut decoder = SseDecoder::default();
        let mut frames = Vec::new();
        for _ in 0..2 {
            for _ in 0..(MAX_SSE_EVENT / line.len() - 1) {
                frames.extend(decoder.push(&line).unwrap());
            }
            frames.extend(decoder.push(b"\n").unwrap());
        }
        assert_eq!(frames.len(), 2);
    }
}
