"""The Python SDK of the Apertis AI API.

```python
from apertis import Apertis

client = Apertis()  # reads APERTIS_API_KEY
completion = client.chat.completions.create(model="gpt-4.1-mini", messages=[{"role": "user", "content": "Hi"}])
print(completion.choices[0].message.content)
```

`import apertis` loads only the exceptions: the clients, httpx, the models and the resources are imported on
first use of a name (PEP 562), so CLIs and serverless functions that import the SDK but rarely call it start fast.
"""

import importlib as _importlib
from typing import TYPE_CHECKING as _TYPE_CHECKING
from typing import Any as _Any
from typing import Dict as _Dict
from typing import List as _List
from typing import Optional as _Optional
from typing import Tuple as _Tuple

from . import _exceptions
from ._exceptions import *  # noqa: F403  (the names are in _exceptions.__all__, which __all__ below includes)
from ._version import __version__

# Type checkers cannot follow the lazy table below, so they read these imports; tests/test_exported_members.py
# keeps the two in step.
if _TYPE_CHECKING:
    from . import resources as resources
    from . import types as types
    from ._aiohttp import AiohttpClient as AiohttpClient
    from ._async._client import AsyncApertis as AsyncApertis
    from ._async._raw_response import AsyncAPIResponse as AsyncAPIResponse
    from ._async._raw_response import AsyncResponseContextManager as AsyncResponseContextManager
    from ._async._response import AsyncBinaryResponse as AsyncBinaryResponse
    from ._async._streaming import AsyncStream as AsyncStream
    from ._async._tool_runner import AsyncToolRunStream as AsyncToolRunStream
    from ._constants import DEFAULT_BASE_URL as DEFAULT_BASE_URL
    from ._constants import DEFAULT_CONNECTION_LIMITS as DEFAULT_CONNECTION_LIMITS
    from ._constants import DEFAULT_MAX_RETRIES as DEFAULT_MAX_RETRIES
    from ._constants import DEFAULT_MAX_RETRY_AFTER as DEFAULT_MAX_RETRY_AFTER
    from ._constants import DEFAULT_TIMEOUT as DEFAULT_TIMEOUT
    from ._gateway import CompressionInfo as CompressionInfo
    from ._gateway import FallbackInfo as FallbackInfo
    from ._gateway import GatewayInfo as GatewayInfo
    from ._gateway import RateLimitInfo as RateLimitInfo
    from ._gateway import WebSearchInfo as WebSearchInfo
    from ._http_clients import DefaultAsyncHttpxClient as DefaultAsyncHttpxClient
    from ._http_clients import DefaultHttpxClient as DefaultHttpxClient
    from ._limiter import RateLimiter as RateLimiter
    from ._limiter import RateLimitState as RateLimitState
    from ._observe import ErrorInfo as ErrorInfo
    from ._observe import Hooks as Hooks
    from ._observe import RequestInfo as RequestInfo
    from ._observe import ResponseInfo as ResponseInfo
    from ._observe import RetryInfo as RetryInfo
    from ._observe import Tracing as Tracing
    from ._sync._client import Apertis as Apertis
    from ._sync._raw_response import APIResponse as APIResponse
    from ._sync._raw_response import ResponseContextManager as ResponseContextManager
    from ._sync._response import BinaryResponse as BinaryResponse
    from ._sync._streaming import Stream as Stream
    from ._sync._tool_runner import ToolRunStream as ToolRunStream
    from ._tools import FunctionTool as FunctionTool
    from ._tools import ToolCallResult as ToolCallResult
    from ._tools import ToolRun as ToolRun
    from ._tools import function_tool as function_tool
    from ._types import NOT_GIVEN as NOT_GIVEN
    from ._types import NotGiven as NotGiven
    from ._types import Timeout as Timeout
    from .types import AudioConfig as AudioConfig
    from .types import AudioData as AudioData
    from .types import ChatCompletion as ChatCompletion
    from .types import ChatCompletionChoice as ChatCompletionChoice
    from .types import ChatCompletionChunk as ChatCompletionChunk
    from .types import ChatCompletionChunkChoice as ChatCompletionChunkChoice
    from .types import ChatCompletionDelta as ChatCompletionDelta
    from .types import ChatCompletionMessage as ChatCompletionMessage
    from .types import ChatCompletionMessageParam as ChatCompletionMessageParam
    from .types import ChatCompletionToolParam as ChatCompletionToolParam
    from .types import CompressionConfig as CompressionConfig
    from .types import ContentPart as ContentPart
    from .types import Embedding as Embedding
    from .types import EmbeddingResponse as EmbeddingResponse
    from .types import EmbeddingUsage as EmbeddingUsage
    from .types import Function as Function
    from .types import FunctionDefinition as FunctionDefinition
    from .types import ImageURLContentPart as ImageURLContentPart
    from .types import ImageURLDetail as ImageURLDetail
    from .types import InputAudioContentPart as InputAudioContentPart
    from .types import InputAudioDetail as InputAudioDetail
    from .types import Message as Message
    from .types import MessageParam as MessageParam
    from .types import MessageUsage as MessageUsage
    from .types import Model as Model
    from .types import ModelList as ModelList
    from .types import ReasoningConfig as ReasoningConfig
    from .types import RerankResponse as RerankResponse
    from .types import RerankResult as RerankResult
    from .types import Response as Response
    from .types import ResponseInputItem as ResponseInputItem
    from .types import ResponseOutputMessage as _ResponseOutputMessage
    from .types import ResponseUsage as ResponseUsage
    from .types import StreamOptions as StreamOptions
    from .types import TextContentPart as TextContentPart
    from .types import ThinkingConfig as ThinkingConfig
    from .types import ToolCall as ToolCall
    from .types import URLCitation as URLCitation
    from .types import Usage as Usage
    from .types import UserLocation as UserLocation
    from .types import VideoURLContentPart as VideoURLContentPart
    from .types import VideoURLDetail as VideoURLDetail
    from .types import WebSearchOptions as WebSearchOptions
    from .types import WebSource as WebSource

    ResponseOutput = _ResponseOutputMessage

# The model names SDK 0.4.1 exported from the package root; they live in apertis.types.
_TYPE_NAMES = (
    "AudioConfig",
    "AudioData",
    "ChatCompletion",
    "ChatCompletionChoice",
    "ChatCompletionChunk",
    "ChatCompletionChunkChoice",
    "ChatCompletionDelta",
    "ChatCompletionMessage",
    "ChatCompletionMessageParam",
    "ChatCompletionToolParam",
    "CompressionConfig",
    "ContentPart",
    "Embedding",
    "EmbeddingResponse",
    "EmbeddingUsage",
    "Function",
    "FunctionDefinition",
    "ImageURLContentPart",
    "ImageURLDetail",
    "InputAudioContentPart",
    "InputAudioDetail",
    "Message",
    "MessageParam",
    "MessageUsage",
    "Model",
    "ModelList",
    "ReasoningConfig",
    "RerankResponse",
    "RerankResult",
    "Response",
    "ResponseInputItem",
    "ResponseUsage",
    "StreamOptions",
    "TextContentPart",
    "ThinkingConfig",
    "ToolCall",
    "URLCitation",
    "Usage",
    "UserLocation",
    "VideoURLContentPart",
    "VideoURLDetail",
    "WebSearchOptions",
    "WebSource",
)

# Every name loaded on first use (PEP 562): name -> (module relative to this package, attribute), where None as
# the attribute means the module itself. This table is the one list of the lazy names.
_LAZY: _Dict[str, _Tuple[str, _Optional[str]]] = {
    "Apertis": ("._sync._client", "Apertis"),
    "AsyncApertis": ("._async._client", "AsyncApertis"),
    "AiohttpClient": ("._aiohttp", "AiohttpClient"),
    "BinaryResponse": ("._sync._response", "BinaryResponse"),
    "AsyncBinaryResponse": ("._async._response", "AsyncBinaryResponse"),
    "APIResponse": ("._sync._raw_response", "APIResponse"),
    "AsyncAPIResponse": ("._async._raw_response", "AsyncAPIResponse"),
    "ResponseContextManager": ("._sync._raw_response", "ResponseContextManager"),
    "AsyncResponseContextManager": ("._async._raw_response", "AsyncResponseContextManager"),
    "GatewayInfo": ("._gateway", "GatewayInfo"),
    "FallbackInfo": ("._gateway", "FallbackInfo"),
    "WebSearchInfo": ("._gateway", "WebSearchInfo"),
    "CompressionInfo": ("._gateway", "CompressionInfo"),
    "RateLimitInfo": ("._gateway", "RateLimitInfo"),
    "Stream": ("._sync._streaming", "Stream"),
    "AsyncStream": ("._async._streaming", "AsyncStream"),
    "ErrorInfo": ("._observe", "ErrorInfo"),
    "Hooks": ("._observe", "Hooks"),
    "RequestInfo": ("._observe", "RequestInfo"),
    "ResponseInfo": ("._observe", "ResponseInfo"),
    "RetryInfo": ("._observe", "RetryInfo"),
    "Tracing": ("._observe", "Tracing"),
    "NOT_GIVEN": ("._types", "NOT_GIVEN"),
    "NotGiven": ("._types", "NotGiven"),
    "Timeout": ("._types", "Timeout"),
    "RateLimiter": ("._limiter", "RateLimiter"),
    "function_tool": ("._tools", "function_tool"),
    "FunctionTool": ("._tools", "FunctionTool"),
    "ToolRun": ("._tools", "ToolRun"),
    "ToolCallResult": ("._tools", "ToolCallResult"),
    "ToolRunStream": ("._sync._tool_runner", "ToolRunStream"),
    "AsyncToolRunStream": ("._async._tool_runner", "AsyncToolRunStream"),
    "RateLimitState": ("._limiter", "RateLimitState"),
    "DEFAULT_BASE_URL": ("._constants", "DEFAULT_BASE_URL"),
    "DEFAULT_CONNECTION_LIMITS": ("._constants", "DEFAULT_CONNECTION_LIMITS"),
    "DEFAULT_MAX_RETRIES": ("._constants", "DEFAULT_MAX_RETRIES"),
    "DEFAULT_MAX_RETRY_AFTER": ("._constants", "DEFAULT_MAX_RETRY_AFTER"),
    "DEFAULT_TIMEOUT": ("._constants", "DEFAULT_TIMEOUT"),
    "DefaultHttpxClient": ("._http_clients", "DefaultHttpxClient"),
    "DefaultAsyncHttpxClient": ("._http_clients", "DefaultAsyncHttpxClient"),
    "resources": (".resources", None),
    "types": (".types", None),
}
_LAZY.update((name, (".types", name)) for name in _TYPE_NAMES)
# SDK 0.4.1's name for an output message of the Responses API.
_LAZY["ResponseOutput"] = (".types", "ResponseOutputMessage")

__all__ = ["__version__", *_LAZY]  # noqa: PLE0604
__all__ += _exceptions.__all__
# The clients' factory for status errors is public inside the SDK, not part of its API.
__all__.remove("make_status_error")
del make_status_error  # noqa: F821  (ruff does not follow the star import)


def __getattr__(name: str) -> _Any:
    target = _LAZY.get(name)
    if target is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module = _importlib.import_module(target[0], __name__)
    value = module if target[1] is None else getattr(module, target[1])
    globals()[name] = value  # later lookups skip __getattr__
    return value


def __dir__() -> _List[str]:
    return sorted(set(globals()) | set(_LAZY))
