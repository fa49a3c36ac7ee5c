"""Request mistakes a type checker must catch: every `# expect-error` line has an error, no other line has."""

from __future__ import annotations

from typing import List

from apertis import Apertis
from apertis.types import ChatCompletionMessageParam, ChatCompletionToolParam

client = Apertis(api_key="sk-test")

client.chat.completions.create(model="m", messages=[{"role": "usr", "content": "Hi"}])  # expect-error
client.chat.completions.create(model="m", messages=[{"role": "user", "contnt": "Hi"}])  # expect-error
client.chat.completions.create(model="m", messages=[{"role": "user", "content": 3}])  # expect-error
client.chat.completions.create(model="m", messages=[{"role": "tool", "content": "42"}])  # expect-error
client.chat.completions.create(model="m", messages=[], stream_options={"include_usagee": True})  # expect-error
client.chat.completions.create(model="m", messages=[], response_format={"type": "json"})  # expect-error
client.chat.completions.create(model="m", messages=[], tool_choice="sometimes")  # expect-error
client.chat.completions.create(model="m", messages=[], max_tokens="100")  # expect-error
client.chat.completions.create(model="m", messages=[], reasoning_effort="extreme")  # expect-error
client.chat.completions.create(model="m", messages=[], thinking={"type": "enabled", "budget": 5})  # expect-error
client.chat.completions.create(model="m", messages="Hi")  # expect-error

msgs: List[ChatCompletionMessageParam] = [{"role": "user", "content": [{"type": "txt", "text": "Hi"}]}]  # expect-error
tools: List[ChatCompletionToolParam] = [{"type": "function", "function": {"nam": "f"}}]  # expect-error

client.messages.create(model="m", max_tokens=5, messages=[{"role": "system", "content": "Hi"}])  # expect-error
client.responses.create(model="m", input=[{"role": "user", "content": "Hi", "type": "msg"}])  # expect-error
client.embeddings.create(model="m", input="x", encoding_format="base32")  # expect-error
