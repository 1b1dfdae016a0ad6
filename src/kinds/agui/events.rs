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

/// The `data:` payloads of an SSE body, one per event (the lines of one event joined), unparsed:
/// the rules decide what a frame that is not JSON means.
pub fn sse_frames(body: &str) -> Vec<String> {
    let mut decoder = SseDecoder::default();
    let mut frames = decoder.push(body.as_bytes());
    frames.extend(decoder.finish());
    frames
}

/// Splits an SSE stream into the `data:` payloads of its events as bytes arrive, whatever the
/// chunking (an event, a line or a UTF-8 character may be cut between two chunks).
#[derive(Debug, Default)]
pub struct SseDecoder {
    /// Bytes of the line not yet ended.
    partial: Vec<u8>,
    /// The `data:` lines of the event not yet ended by a blank line.
    data: Vec<String>,
}

impl SseDecoder {
    /// Takes the next chunk; returns the payloads of the events it completed.
    pub fn push(&mut self, chunk: &[u8]) -> Vec<String> {
        let mut frames = Vec::new();
        self.partial.extend_from_slice(chunk);
        while let Some(end) = self.partial.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = self.partial.drain(..=end).collect();
            let line = String::from_utf8_lossy(&line[..end]);
            let line = line.strip_suffix('\r').unwrap_or(&line);
            self.line(line, &mut frames);
        }
        frames
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

    fn line(&mut self, line: &str, frames: &mut Vec<String>) {
        if line.is_empty() {
            if !self.data.is_empty() {
                frames.push(std::mem::take(&mut self.data).join("\n"));
            }
        } else if let Some(data) = line.strip_prefix("data:") {
            self.data.push(data.strip_prefix(' ').unwrap_or(data).to_owned());
        }
    }
}

/// The events of an SSE body, each parsed as JSON.
pub fn parse_sse(body: &str) -> Result<Vec<Value>, String> {
    sse_frames(body)
        .into_iter()
        .map(|frame| serde_json::from_str(&frame).map_err(|err| format!("an event is not JSON ({err}): {frame}")))
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
        assert_eq!(sse_frames("data: a\ndata: b\n\n"), ["a\nb"]);
        assert_eq!(sse_frames("data: a\r\n\r\ndata: cut"), ["a", "cut"]);
    }

    #[test]
    fn chunks_cut_anywhere_give_the_same_frames() {
        let body = "data: {\"t\":\"é\"}\r\n\r\n: ping\n\ndata: x\ndata: y\n\n";
        for cut in 0..body.len() {
            let mut decoder = SseDecoder::default();
            let mut frames = decoder.push(&body.as_bytes()[..cut]);
            frames.extend(decoder.push(&body.as_bytes()[cut..]));
            frames.extend(decoder.finish());
            assert_eq!(frames, ["{\"t\":\"é\"}", "x\ny"], "cut at {cut}");
        }
    }
}
