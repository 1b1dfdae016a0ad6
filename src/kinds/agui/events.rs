//! What agui-dev knows about AG-UI servers: the run request and the event rules the official
//! client (`@ag-ui/client`) enforces, checked here the same way so `smoke` fails where a real
//! client would.

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

/// The events of an SSE body: every `data:` line (joined across lines of one event) as JSON.
pub fn parse_sse(body: &str) -> Result<Vec<Value>, String> {
    let mut events = Vec::new();
    for block in body.replace("\r\n", "\n").split("\n\n") {
        let data: Vec<&str> =
            block.lines().filter_map(|l| l.strip_prefix("data:")).map(|d| d.strip_prefix(' ').unwrap_or(d)).collect();
        if data.is_empty() {
            continue;
        }
        let joined = data.join("\n");
        let event = serde_json::from_str(&joined).map_err(|err| format!("an event is not JSON ({err}): {joined}"))?;
        events.push(event);
    }
    Ok(events)
}

/// Checks the sequence rules and returns the assistant text the run carried.
pub fn verify(events: &[Value]) -> Result<String, String> {
    let kind = |e: &Value| e.get("type").and_then(Value::as_str).unwrap_or("").to_owned();
    let field = |e: &Value, name: &str| e.get(name).and_then(Value::as_str).unwrap_or("").to_owned();
    let first = events.first().ok_or("the stream carried no events")?;
    if kind(first) != "RUN_STARTED" {
        return Err(format!("the first event is `{}`, not `RUN_STARTED`", kind(first)));
    }
    let mut open_messages: Vec<String> = Vec::new();
    let mut open_calls: Vec<String> = Vec::new();
    let mut text = String::new();
    let mut finished = false;
    for (index, event) in events.iter().enumerate().skip(1) {
        let kind = kind(event);
        if finished {
            return Err(format!("event {index} (`{kind}`) comes after the run ended"));
        }
        match kind.as_str() {
            "" => return Err(format!("event {index} has no `type`")),
            "RUN_STARTED" => return Err(format!("event {index} starts the run a second time")),
            "TEXT_MESSAGE_START" => {
                let id = field(event, "messageId");
                if id.is_empty() {
                    return Err(format!("event {index}: `TEXT_MESSAGE_START` without a `messageId`"));
                }
                open_messages.push(id);
            }
            "TEXT_MESSAGE_CONTENT" => {
                let id = field(event, "messageId");
                if !open_messages.contains(&id) {
                    return Err(format!("event {index}: content for message `{id}`, which is not open"));
                }
                let delta = field(event, "delta");
                if delta.is_empty() {
                    return Err(format!("event {index}: `TEXT_MESSAGE_CONTENT` with an empty `delta`"));
                }
                text.push_str(&delta);
            }
            "TEXT_MESSAGE_END" => {
                let id = field(event, "messageId");
                let at = open_messages.iter().position(|m| *m == id);
                open_messages
                    .remove(at.ok_or_else(|| format!("event {index}: end of message `{id}`, which is not open"))?);
            }
            "TOOL_CALL_START" => {
                let id = field(event, "toolCallId");
                if id.is_empty() || field(event, "toolCallName").is_empty() {
                    return Err(format!("event {index}: `TOOL_CALL_START` needs `toolCallId` and `toolCallName`"));
                }
                open_calls.push(id);
            }
            "TOOL_CALL_ARGS" => {
                let id = field(event, "toolCallId");
                if !open_calls.contains(&id) {
                    return Err(format!("event {index}: arguments for tool call `{id}`, which is not open"));
                }
            }
            "TOOL_CALL_END" => {
                let id = field(event, "toolCallId");
                let at = open_calls.iter().position(|c| *c == id);
                open_calls
                    .remove(at.ok_or_else(|| format!("event {index}: end of tool call `{id}`, which is not open"))?);
            }
            "RUN_ERROR" => return Err(format!("the run failed: {}", field(event, "message"))),
            "RUN_FINISHED" => {
                if let Some(id) = open_messages.first() {
                    return Err(format!("the run finished with message `{id}` still open"));
                }
                if let Some(id) = open_calls.first() {
                    return Err(format!("the run finished with tool call `{id}` still open"));
                }
                finished = true;
            }
            _ => {}
        }
    }
    if !finished {
        return Err("the stream ended without `RUN_FINISHED`".to_owned());
    }
    if text.trim().is_empty() {
        return Err("the run carried no assistant text".to_owned());
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn events(kinds: &[&str]) -> Vec<Value> {
        kinds
            .iter()
            .map(|k| match *k {
                "TEXT_MESSAGE_START" | "TEXT_MESSAGE_END" => serde_json::json!({"type": k, "messageId": "m1"}),
                "TEXT_MESSAGE_CONTENT" => serde_json::json!({"type": k, "messageId": "m1", "delta": "hi"}),
                "TOOL_CALL_START" => serde_json::json!({"type": k, "toolCallId": "c1", "toolCallName": "calculate"}),
                "TOOL_CALL_ARGS" | "TOOL_CALL_END" => serde_json::json!({"type": k, "toolCallId": "c1", "delta": "{}"}),
                _ => serde_json::json!({"type": k}),
            })
            .collect()
    }

    #[test]
    fn a_good_run_passes_and_yields_its_text() {
        let good = ["RUN_STARTED", "TOOL_CALL_START", "TOOL_CALL_ARGS", "TOOL_CALL_END", "TOOL_CALL_RESULT"];
        let tail = ["TEXT_MESSAGE_START", "TEXT_MESSAGE_CONTENT", "TEXT_MESSAGE_END", "RUN_FINISHED"];
        assert_eq!(verify(&events(&[&good[..], &tail[..]].concat())).unwrap(), "hi");
    }

    #[test]
    fn each_rule_is_enforced() {
        let cases: &[(&[&str], &str)] = &[
            (&["TEXT_MESSAGE_START", "RUN_FINISHED"], "first event"),
            (&["RUN_STARTED", "TEXT_MESSAGE_CONTENT", "RUN_FINISHED"], "not open"),
            (&["RUN_STARTED", "TEXT_MESSAGE_START", "TEXT_MESSAGE_CONTENT", "RUN_FINISHED"], "still open"),
            (&["RUN_STARTED", "TOOL_CALL_START", "RUN_FINISHED"], "tool call `c1` still open"),
            (
                &["RUN_STARTED", "TEXT_MESSAGE_START", "TEXT_MESSAGE_CONTENT", "TEXT_MESSAGE_END"],
                "without `RUN_FINISHED`",
            ),
            (&["RUN_STARTED", "RUN_ERROR"], "the run failed"),
            (&["RUN_STARTED", "RUN_FINISHED", "TEXT_MESSAGE_START"], "after the run ended"),
            (&["RUN_STARTED", "RUN_FINISHED"], "no assistant text"),
        ];
        for (kinds, expected) in cases {
            let error = verify(&events(kinds)).unwrap_err();
            assert!(error.contains(expected), "{kinds:?}: {error}");
        }
        let empty = vec![
            serde_json::json!({"type": "RUN_STARTED"}),
            serde_json::json!({"type": "TEXT_MESSAGE_START", "messageId": "m"}),
            serde_json::json!({"type": "TEXT_MESSAGE_CONTENT", "messageId": "m", "delta": ""}),
        ];
        assert!(verify(&empty).unwrap_err().contains("empty `delta`"));
    }

    #[test]
    fn sse_is_parsed_per_event() {
        let body = "data: {\"type\":\"RUN_STARTED\"}\n\n: comment\n\ndata: {\"type\":\"RUN_FINISHED\"}\n\n";
        assert_eq!(parse_sse(body).unwrap().len(), 2);
        assert!(parse_sse("data: nope\n\n").is_err());
    }
}
