"""Hand-written methods of `client.chat.completions` (the generated AsyncCompletions inherits AsyncCompletionsMixin).

`stream` is openai-python's streaming helper (apertis/_async/_stream_helpers.py); `parse` and `stream` with a
`response_format` type are structured outputs (the logic is in apertis/_parse.py). The three `create_with_*`
helpers are SDK 0.4.1's, kept with its signatures so that code written for it runs unchanged: each builds the
messages (and options) and makes one `create` call, passing every other keyword through.
"""

from __future__ import annotations

import base64
import os
from typing import (
    TYPE_CHECKING,
    Any,
    Dict,
    List,
    Literal,
    Mapping,
    Optional,
    Sequence,
    Type,
    TypeVar,
    Union,
    cast,
    overload,
)

from .._resource import AsyncAPIResource

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from ..._parsed_types import ParsedChatCompletion
    from ..._tools import FunctionTool, ToolRun
    from ...types.chat_completion import ChatCompletion
    from ...types.params import ChatCompletionMessageParam
    from .._raw_response import AsyncAPIResponse, AsyncResponseContextManager
    from .._stream_helpers import (
        AsyncChatCompletionEventStream,
        AsyncChatCompletionStreamManager,
        AsyncParsedChatCompletionStreamManager,
    )
    from .._streaming import AsyncChatCompletionStream
    from .._tool_runner import AsyncToolRunStream
    from ..resources.chat import (
        AsyncCompletions,
        ChatCompletionParseParams,
        ChatCompletionRunToolsParams,
        ChatCompletionStreamParams,
    )

__all__ = ["AsyncCompletionsMixin", "AsyncCompletionsRawMixin", "AsyncCompletionsStreamingMixin"]

ContentT = TypeVar("ContentT")

# SDK 0.4.1's tables: what a local file's extension says about its content.
_IMAGE_MEDIA_TYPES = {
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".png": "image/png",
    ".gif": "image/gif",
    ".webp": "image/webp",
}
_AUDIO_FORMATS = {".wav": "wav", ".mp3": "mp3", ".flac": "flac", ".opus": "opus", ".pcm": "pcm16"}
_URL_PREFIXES = ("http://", "https://", "data:")


def _read_base64(path: Union[str, os.PathLike[str]], param: str) -> str:
    try:
        with open(path, "rb") as file:
            return base64.b64encode(file.read()).decode("ascii")
    except FileNotFoundError:
        raise FileNotFoundError(f"{param}: no such file: {os.fspath(path)!r}") from None
    except IsADirectoryError:
        raise IsADirectoryError(f"{param}: {os.fspath(path)!r} is a directory, not a file") from None


def _extension(path: Union[str, os.PathLike[str]]) -> str:
    return os.path.splitext(os.fspath(path))[1].lower()


def _image_url(image: Union[str, os.PathLike[str]]) -> str:
    """`image` as the url of an image_url part: a URL or data URL as is, a local file as a data URL."""
    if isinstance(image, str) and image.startswith(_URL_PREFIXES):
        return image
    if not isinstance(image, (str, os.PathLike)):
        raise TypeError(f"`image` must be a URL, a data: URL or a local file path, got {type(image).__name__}")
    media_type = _IMAGE_MEDIA_TYPES.get(_extension(image))
    if media_type is None:
        raise ValueError(
            f"`image`: cannot tell the image type of {os.fspath(image)!r}; local images must end in "
            f"{', '.join(_IMAGE_MEDIA_TYPES)} (or pass a URL / data: URL)"
        )
    return f"data:{media_type};base64,{_read_base64(image, 'image')}"


def _with_system(system: Optional[str], user_message: Dict[str, Any]) -> List[Any]:
    # List[Any]: plain dicts, which `create` accepts at runtime as its message TypedDicts.
    messages: List[Any] = [{"role": "system", "content": system}] if system is not None else []
    messages.append(user_message)
    return messages


class AsyncCompletionsMixin(AsyncAPIResource):
    """`stream` (openai-python's streaming helper), `parse` (structured outputs), `run_tools` (the tool runner) and
    `create_with_image`, `create_with_audio`, `create_with_web_search` (SDK 0.4.1's one-call helpers)."""

    @overload
    async def run_tools(
        self,
        *,
        model: str,
        messages: Sequence[ChatCompletionMessageParam],
        tools: Sequence[FunctionTool[Any]],
        max_turns: int = 10,
        stream: Literal[False] = False,
        **options: Unpack[ChatCompletionRunToolsParams],
    ) -> ToolRun[ChatCompletion, ChatCompletionMessageParam]: ...

    @overload
    def run_tools(
        self,
        *,
        model: str,
        messages: Sequence[ChatCompletionMessageParam],
        tools: Sequence[FunctionTool[Any]],
        max_turns: int = 10,
        stream: Literal[True],
        **options: Unpack[ChatCompletionRunToolsParams],
    ) -> AsyncToolRunStream[AsyncChatCompletionEventStream, ChatCompletion, ChatCompletionMessageParam]: ...

    def run_tools(  # type: ignore[misc]
        self: AsyncCompletions,
        *,
        model: str,
        messages: Sequence[ChatCompletionMessageParam],
        tools: Sequence[FunctionTool[Any]],
        max_turns: int = 10,
        stream: bool = False,
        **options: Any,
    ) -> Any:
        """Let the model call Python functions until it answers: call it with `tools`, run the calls it asks for
        (an async client runs the calls of one reply concurrently, plain functions in worker threads), send the
        results back as `tool` messages, and again, until a reply asks for no tool (the answer) or `max_turns`
        replies were made (MaxTurnsExceededError, with the run so far).

        A tool that raises, an unknown tool, or arguments that do not validate become an `Error: ...` result the
        model sees, and the exception is kept in the run's `tool_calls` / `errors`. Returns a ToolRun: `final` (the
        answer, a ChatCompletion), `replies`, `tool_calls`, `messages` (the conversation, to continue it).

        ```python
        run = client.chat.completions.run_tools(model="gpt-4.1-mini", messages=messages, tools=[get_weather])
        print(run.final.choices[0].message.content)
        ```

        Args:
            model: The model id.
            messages: The conversation so far (not modified: the run's `messages` is a new list).
            tools: `apertis.function_tool(...)` tools (sent as strict function definitions unless built with
                `strict=False`).
            max_turns: How many replies the model may make, at most (each is one request).
            stream: Stream each reply: returns the run as a stream of turns (with `result` and `until_done()`),
                each a `chat.completions.stream` event stream; the last one is the answer.
            **options: Any other argument of `chat.completions.create` (`tool_choice`, `parallel_tool_calls`,
                `temperature`, `extra_headers`, ...), sent with every request.
        """
        from .._tool_runner import chat_tool_loop, start

        return start(
            chat_tool_loop(self, model=model, messages=messages, tools=tools, max_turns=max_turns, options=options),
            stream,
        )

    @overload
    def stream(
        self, *, response_format: Type[ContentT], strict: bool = True, **params: Unpack[ChatCompletionParseParams]
    ) -> AsyncParsedChatCompletionStreamManager[ContentT]: ...
    @overload
    def stream(self, **params: Unpack[ChatCompletionStreamParams]) -> AsyncChatCompletionStreamManager: ...
    def stream(self, **params: Any) -> AsyncChatCompletionStreamManager:
        """Stream a chat completion as openai-python's helper does: `async with` the result (`with` on Apertis).

        Takes the arguments of `chat.completions.create` (without `stream`, which is implied). The request is sent
        when the block is entered; the block yields an event stream (`chunk`, `content.delta` with `.delta` and
        `.snapshot`, `content.done`, `refusal.*`, `tool_calls.function.arguments.delta` / `.done`) with
        `get_final_completion()`, `until_done()` and `current_completion_snapshot`; leaving it closes the stream.

        With a `response_format` type (or JSON-schema dict) and `strict`, as `parse` takes them, the reply is
        structured: `content.delta`'s `snapshot` is the JSON so far, `content.done` has `parsed`, and
        `get_final_completion()` returns a ParsedChatCompletion. A whole response_format dict is sent as it is.

        ```python
        with client.chat.completions.stream(model="gpt-4.1-mini", messages=messages) as stream:
            for event in stream:
                if event.type == "content.delta":
                    print(event.delta, end="")
            completion = stream.get_final_completion()
        ```
        """
        from ..._parse import chat_request, is_response_format
        from .._stream_helpers import AsyncChatCompletionStreamManager, AsyncParsedChatCompletionStreamManager

        if "stream" in params:
            raise TypeError(
                "chat.completions.stream() always streams: drop the `stream` argument (or call create(stream=...))"
            )
        strict = params.pop("strict", True)
        response_format = params.get("response_format")
        fmt = None
        if response_format is not None and not is_response_format(response_format):
            params["response_format"], fmt = chat_request(response_format, strict=strict)
        resource = cast("AsyncCompletions", self)

        async def open_stream() -> AsyncChatCompletionStream:
            # `params` is untyped, so mypy cannot pick create's overload: stream=True is the streaming one.
            stream: AsyncChatCompletionStream = await resource.create(**params, stream=True)
            return stream

        if fmt is None:
            return AsyncChatCompletionStreamManager(open_stream)
        return AsyncParsedChatCompletionStreamManager(open_stream, fmt)

    @overload
    async def parse(
        self, *, response_format: Type[ContentT], strict: bool = True, **params: Unpack[ChatCompletionParseParams]
    ) -> ParsedChatCompletion[ContentT]: ...
    @overload
    async def parse(
        self, *, response_format: Mapping[str, Any], strict: bool = True, **params: Unpack[ChatCompletionParseParams]
    ) -> ParsedChatCompletion[Any]: ...
    async def parse(self, *, response_format: Any, strict: bool = True, **params: Any) -> ParsedChatCompletion[Any]:
        """A chat completion whose reply is read as `response_format`: `choices[i].message.parsed` is the object.

        `response_format` is a Pydantic model, a dataclass or a TypedDict (read by Pydantic: `apertis[pydantic]`),
        or a JSON-schema dict (`parsed` is the decoded JSON, validated when `jsonschema` is installed). Its schema
        is sent strict (`strict=True`: every property required, no extra ones); `strict=False` sends Pydantic's
        schema as it is, for models that reject strict schemas. A whole `{"type": "json_schema", ...}` dict is sent
        unchanged. The other arguments are those of `create` (without `stream`: use `stream(...)`).

        `message.parsed` is None when the model refused (`message.refusal`) or only called tools. Raises
        StructuredOutputValidationError (with the raw `text` and the `errors`) for a reply that does not validate,
        LengthFinishReasonError / ContentFilterFinishReasonError for a reply cut short.
        """
        from ..._parse import chat_request, check_chat_params, parsed_chat_completion

        check_chat_params(params)
        params["response_format"], fmt = chat_request(response_format, strict=strict)
        resource = cast("AsyncCompletions", self)
        completion: ChatCompletion = await resource.create(**params)
        return self._then(completion, lambda completion: parsed_chat_completion(completion, fmt))

    # `self: AsyncCompletions` types the generated `create` these call (see resource_mixins/models.py).
    async def create_with_image(  # type: ignore[misc]
        self: AsyncCompletions,
        model: str,
        prompt: str,
        image: Union[str, os.PathLike[str], Sequence[Union[str, os.PathLike[str]]]],
        *,
        detail: str = "auto",
        system: Optional[str] = None,
        **kwargs: Any,
    ) -> ChatCompletion:
        """Ask `model` about one or more images (SDK 0.4.1's helper): one `create` call with a text part and an
        `image_url` part per image.

        Args:
            model: A vision-capable model id, such as `gpt-4.1-mini`.
            prompt: The question or instruction about the image(s).
            image: A URL, a `data:` URL or a local file path (`.jpg`, `.jpeg`, `.png`, `.gif`, `.webp`, sent as a
                data URL), or a list of them.
            detail: The `detail` of every image part: `auto`, `low` or `high`.
            system: An optional system message, sent first.
            **kwargs: Any other argument of `chat.completions.create` (`max_tokens`, `extra_headers`, ...).
        """
        images = [image] if isinstance(image, (str, os.PathLike)) else list(image)
        content: List[Dict[str, Any]] = [{"type": "text", "text": prompt}]
        content.extend(
            {"type": "image_url", "image_url": {"url": _image_url(item), "detail": detail}} for item in images
        )
        messages = _with_system(system, {"role": "user", "content": content})
        completion: ChatCompletion = await self.create(model=model, messages=messages, **kwargs)
        return completion

    async def create_with_audio(  # type: ignore[misc]
        self: AsyncCompletions,
        model: str,
        prompt: str,
        audio: Union[str, os.PathLike[str]],
        *,
        audio_format: Optional[str] = None,
        output_voice: Optional[str] = None,
        output_format: str = "wav",
        system: Optional[str] = None,
        **kwargs: Any,
    ) -> ChatCompletion:
        """Send a local audio file with a prompt to an audio-capable model (SDK 0.4.1's helper): one `create` call
        with a text part and an `input_audio` part.

        Args:
            model: An audio-capable model id, such as `gpt-4o-audio-preview`.
            prompt: The instruction about the audio.
            audio: A local file path; it is read and sent base64-encoded.
            audio_format: The audio's format (`wav`, `mp3`, `flac`, `opus`, `pcm16`); by default it is told from
                the extension (`.wav`, `.mp3`, `.flac`, `.opus`, `.pcm`).
            output_voice: When set, the model also answers in audio with this voice (`modalities=["text", "audio"]`).
            output_format: The format of the audio answer, when `output_voice` is set.
            system: An optional system message, sent first.
            **kwargs: Any other argument of `chat.completions.create`.
        """
        if not isinstance(audio, (str, os.PathLike)):
            raise TypeError(f"`audio` must be a local file path, got {type(audio).__name__}")
        if audio_format is None:
            audio_format = _AUDIO_FORMATS.get(_extension(audio))
            if audio_format is None:
                raise ValueError(
                    f"`audio`: cannot tell the audio format of {os.fspath(audio)!r}; use a file ending in "
                    f"{', '.join(_AUDIO_FORMATS)} or pass audio_format=..."
                )
        content = [
            {"type": "text", "text": prompt},
            {"type": "input_audio", "input_audio": {"data": _read_base64(audio, "audio"), "format": audio_format}},
        ]
        if output_voice is not None:
            kwargs.setdefault("modalities", ["text", "audio"])
            kwargs.setdefault("audio", {"voice": output_voice, "format": output_format})
        messages = _with_system(system, {"role": "user", "content": content})
        completion: ChatCompletion = await self.create(model=model, messages=messages, **kwargs)
        return completion

    async def create_with_web_search(  # type: ignore[misc]
        self: AsyncCompletions,
        prompt: str,
        *,
        model: str = "gpt-5-search-api",
        context_size: str = "medium",
        allowed_domains: Optional[Sequence[str]] = None,
        country: Optional[str] = None,
        city: Optional[str] = None,
        region: Optional[str] = None,
        system: Optional[str] = None,
        **kwargs: Any,
    ) -> ChatCompletion:
        """Ask a search model with OpenAI-style `web_search_options` (SDK 0.4.1's helper); citations come back in
        `choices[0].message.annotations`. For web search on any model, append `:web` to the model id instead.

        Args:
            prompt: The question.
            model: A dedicated search model (`gpt-5-search-api`, `gpt-4o-search-preview`, ...).
            context_size: `search_context_size`: `low`, `medium` or `high`.
            allowed_domains: Only search these domains (`["reuters.com"]`), sent as `filters`.
            country: The user's approximate location (two-letter ISO code), to localise results.
            city: The user's city.
            region: The user's region or state.
            system: An optional system message, sent first.
            **kwargs: Any other argument of `chat.completions.create`.
        """
        options: Any = {"search_context_size": context_size}
        if allowed_domains is not None:
            if isinstance(allowed_domains, str):
                raise TypeError("`allowed_domains` must be a list of domains, such as ['reuters.com'], not a str")
            options["filters"] = list(allowed_domains)
        location = {
            key: value for key, value in (("country", country), ("city", city), ("region", region)) if value is not None
        }
        if location:
            options["user_location"] = {"type": "approximate", "approximate": location}
        messages = _with_system(system, {"role": "user", "content": prompt})
        completion: ChatCompletion = await self.create(
            model=model, messages=messages, web_search_options=options, **kwargs
        )
        return completion


class AsyncCompletionsRawMixin:
    """`parse` for `client.chat.completions.with_raw_response` (the generated wrapper inherits it)."""

    _calls: AsyncCompletions

    @overload
    async def parse(
        self, *, response_format: Type[ContentT], strict: bool = True, **params: Unpack[ChatCompletionParseParams]
    ) -> AsyncAPIResponse[ParsedChatCompletion[ContentT]]: ...
    @overload
    async def parse(
        self, *, response_format: Mapping[str, Any], strict: bool = True, **params: Unpack[ChatCompletionParseParams]
    ) -> AsyncAPIResponse[ParsedChatCompletion[Any]]: ...
    async def parse(self, **params: Any) -> AsyncAPIResponse[ParsedChatCompletion[Any]]:
        """`chat.completions.parse`, returning the raw response (`headers`, `status_code`, `request_id`, ...):
        its `parse()` gives the ParsedChatCompletion and raises what the plain `parse` raises."""
        calls: Any = self._calls  # its parse returns the raw response (`_then` of the resource base class)
        return await calls.parse(**params)  # type: ignore[no-any-return]


class AsyncCompletionsStreamingMixin:
    """`parse` for `client.chat.completions.with_streaming_response` (the generated wrapper inherits it)."""

    _calls: AsyncCompletions

    @overload
    def parse(
        self, *, response_format: Type[ContentT], strict: bool = True, **params: Unpack[ChatCompletionParseParams]
    ) -> AsyncResponseContextManager[AsyncAPIResponse[ParsedChatCompletion[ContentT]]]: ...
    @overload
    def parse(
        self, *, response_format: Mapping[str, Any], strict: bool = True, **params: Unpack[ChatCompletionParseParams]
    ) -> AsyncResponseContextManager[AsyncAPIResponse[ParsedChatCompletion[Any]]]: ...
    def parse(self, **params: Any) -> AsyncResponseContextManager[AsyncAPIResponse[ParsedChatCompletion[Any]]]:
        """`chat.completions.parse` as a context manager: `async with` it to send the call and get the raw response with
        its body unread; its `parse()` gives the ParsedChatCompletion and raises what the plain `parse` raises."""
        from .._raw_response import AsyncResponseContextManager

        calls: Any = self._calls  # its parse returns the raw response (`_then` of the resource base class)
        return AsyncResponseContextManager(lambda: calls.parse(**params))
