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
    let mut frames = Vec::new();
    for block in body.replace("\r\n", "\n").split("\n\n") {
        let data: Vec<&str> =
            block.lines().filter_map(|l| l.strip_prefix("data:")).map(|d| d.strip_prefix(' ').unwrap_or(d)).collect();
        if !data.is_empty() {
            frames.push(data.join("\n"));
        }
    }
    frames
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
    }
}
