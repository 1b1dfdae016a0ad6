"""Offline model with a tool call, for agui-dev's LiteLLM proxy.

Loaded by config.yaml (litellm_settings.custom_provider_map), which LiteLLM
resolves relative to the config file: keep this file beside config.yaml.

Why this file exists: a `mock_tool_calls` list in a model's litellm_params is
honoured by LiteLLM only for non-streaming requests (with `stream: true` the
mock streams `mock_response` text and drops the tool calls), and it cannot
tell a first turn from a follow-up. This provider does both, with no key and
no network:

- if the last user/tool message is a tool result: a text answer that quotes
  that result;
- otherwise, if the request offers a tool named `calculate` (or offers no
  tools at all): a call to `calculate` with {"expression":"6*7"};
- otherwise (tools offered, none named calculate): a text answer saying so.
"""

import json
import time
import uuid
from collections.abc import AsyncIterator, Iterator

from litellm import CustomLLM
from litellm.types.utils import (
    ChatCompletionMessageToolCall,
    Choices,
    GenericStreamingChunk,
    Message,
    ModelResponse,
    Usage,
)

TOOL_NAME = "calculate"
TOOL_ARGUMENTS = json.dumps({"expression": "6*7"}, separators=(",", ":"))
PREFIX = "[offline model] "


def _field(message, key):
    if isinstance(message, dict):
        return message.get(key)
    return getattr(message, key, None)


def _text(content) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # content parts
        return "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return "" if content is None else str(content)


def _plan(messages, optional_params):
    """Return ("text", str) or ("tool_call", None)."""
    for message in reversed(messages or []):
        role = _field(message, "role")
        if role == "tool":
            result = _text(_field(message, "content"))
            return (
                "text",
                PREFIX + f"The {TOOL_NAME} tool returned: {result}",
            )
        if role == "user":
            break
    tools = (optional_params or {}).get("tools") or []
    names = {
        (t.get("function") or {}).get("name")
        for t in tools
        if isinstance(t, dict)
    }
    if tools and TOOL_NAME not in names:
        return (
            "text",
            PREFIX + f"No tool named '{TOOL_NAME}' was offered, so no tool call.",
        )
    return ("tool_call", None)


def _call_id() -> str:
    return "call_offline_" + uuid.uuid4().hex[:12]


def _usage() -> Usage:
    return Usage(prompt_tokens=10, completion_tokens=10, total_tokens=20)


class OfflineTools(CustomLLM):
    def completion(self, model, messages, *args, optional_params=None, **kwargs) -> ModelResponse:
        kind, text = _plan(messages, optional_params)
        if kind == "text":
            message = Message(role="assistant", content=text)
            finish = "stop"
        else:
            message = Message(
                role="assistant",
                content=None,
                tool_calls=[
                    ChatCompletionMessageToolCall(
                        id=_call_id(),
                        type="function",
                        function={"name": TOOL_NAME, "arguments": TOOL_ARGUMENTS},
                    )
                ],
            )
            finish = "tool_calls"
        return ModelResponse(
            model=model,
            created=int(time.time()),
            choices=[Choices(index=0, message=message, finish_reason=finish)],
            usage=_usage(),
        )

    async def acompletion(self, *args, **kwargs) -> ModelResponse:
        return self.completion(*args, **kwargs)

    def streaming(self, model, messages, *args, optional_params=None, **kwargs) -> Iterator[GenericStreamingChunk]:
        kind, text = _plan(messages, optional_params)
        usage = {"prompt_tokens": 10, "completion_tokens": 10, "total_tokens": 20}
        if kind == "text":
            step = 16
            pieces = [text[i : i + step] for i in range(0, len(text), step)]
            for piece in pieces:
                yield {
                    "text": piece,
                    "tool_use": None,
                    "is_finished": False,
                    "finish_reason": "",
                    "usage": None,
                    "index": 0,
                }
            yield {
                "text": "",
                "tool_use": None,
                "is_finished": True,
                "finish_reason": "stop",
                "usage": usage,
                "index": 0,
            }
            return
        yield {
            "text": "",
            "tool_use": {
                "id": _call_id(),
                "type": "function",
                "function": {"name": TOOL_NAME, "arguments": TOOL_ARGUMENTS},
                "index": 0,
            },
            "is_finished": False,
            "finish_reason": "",
            "usage": None,
            "index": 0,
        }
        yield {
            "text": "",
            "tool_use": None,
            "is_finished": True,
            "finish_reason": "tool_calls",
            "usage": usage,
            "index": 0,
        }

    async def astreaming(self, *args, **kwargs) -> AsyncIterator[GenericStreamingChunk]:
        for chunk in self.streaming(*args, **kwargs):
            yield chunk


offline_tools = OfflineTools()
