"""Structured outputs: the reply as your own type, from all three APIs (needs `pip install "apertis[pydantic]"`)."""

from __future__ import annotations

from enum import Enum
from typing import List, Optional

from pydantic import BaseModel, Field

from apertis import Apertis, LengthFinishReasonError
from apertis.types import ChatCompletionMessageParam


class Priority(str, Enum):
    LOW = "low"
    HIGH = "high"


class Task(BaseModel):
    """One task of a plan; a task may have subtasks (a recursive type)."""

    title: str = Field(description="what to do, in a few words")
    priority: Priority
    minutes: Optional[int] = None
    subtasks: List[Task] = []


class Plan(BaseModel):
    goal: str
    tasks: List[Task]


def main() -> None:
    request = "Plan a picnic for four people."
    messages: List[ChatCompletionMessageParam] = [{"role": "user", "content": request}]
    with Apertis() as client:
        # Chat completions: `message.parsed` is a Plan (None if the model refused: see `message.refusal`).
        completion = client.chat.completions.parse(model="gpt-4.1-mini", messages=messages, response_format=Plan)
        plan = completion.choices[0].message.parsed
        if plan is not None:
            print(f"Chat: {plan.goal!r} in {len(plan.tasks)} task(s), first: {plan.tasks[0].title!r}")

        # Responses: `output_parsed`.
        response = client.responses.parse(model="gpt-4.1-mini", input="Plan a picnic.", text_format=Plan)
        if response.output_parsed is not None:
            print(f"Responses: {response.output_parsed.goal!r}")

        # Messages: a forced tool whose input is the Plan (output_mode="tool", the default).
        message = client.messages.parse(
            model="claude-sonnet-4.5",
            max_tokens=1024,
            messages=[{"role": "user", "content": request}],
            output_format=Plan,
        )
        if message.parsed_output is not None:
            print(f"Messages: priority of the first task: {message.parsed_output.tasks[0].priority.value}")

        # Streaming: the JSON as it grows, then the parsed object.
        with client.chat.completions.stream(model="gpt-4.1-mini", messages=messages, response_format=Plan) as stream:
            sizes = [len(event.snapshot) for event in stream if event.type == "content.delta"]
            final = stream.get_final_completion().choices[0].message.parsed
        print(
            f"Streamed: the JSON grew in {len(sizes)} steps to {sizes[-1] if sizes else 0} characters, then {final!r}"
        )

        # A reply cut at the token limit is an error of its own, not a confusing parse failure.
        try:
            client.chat.completions.parse(model="gpt-4.1-mini", messages=messages, response_format=Plan, max_tokens=5)
        except LengthFinishReasonError as error:
            print(f"Cut short: {error}")


if __name__ == "__main__":
    main()
