"""Hand-written methods of `client.video` (the generated AsyncVideo inherits AsyncVideoMixin)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Optional, Union

from ..._types import NOT_GIVEN, Body, Headers, NotGiven, Query
from ..._validation import invalid_path_parameter
from .._polling import DEFAULT_POLL_INTERVAL, DEFAULT_POLL_TIMEOUT, check_poll_options, wait_for_task
from .._resource import AsyncAPIResource

if TYPE_CHECKING:
    import httpx

    from ...types.video_task import VideoTask
    from ..resources.video import AsyncVideo

__all__ = ["AsyncVideoMixin"]


class AsyncVideoMixin(AsyncAPIResource):
    """`create_and_poll` and `poll`: wait for a legacy video task to finish."""

    async def poll(  # type: ignore[misc]  # self type: see AsyncModelsMixin.exists
        self: AsyncVideo,
        id: str,
        *,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        poll_timeout: Optional[float] = DEFAULT_POLL_TIMEOUT,
        on_progress: Optional[Callable[[VideoTask], object]] = None,
        extra_headers: Optional[Headers] = None,
        extra_query: Optional[Query] = None,
        timeout: Union[float, httpx.Timeout, NotGiven, None] = NOT_GIVEN,
        total_timeout: Union[float, NotGiven, None] = NOT_GIVEN,
    ) -> VideoTask:
        """Call `video.query(id=id)` every `poll_interval` seconds until the task is `completed`; return it.

        Its `video_url` is then the file's address. Any status other than `completed` and `failed` (`pending`,
        `processing`, ...) means "still running".

        Args:
            id: The task id `video.create` returned.
            poll_interval: Seconds between two polls (default 5; the API's documentation suggests about 10).
            poll_timeout: Seconds to wait in all (default 1800), None for no limit.
            on_progress: Called with each state the API reports, the first one included.
            extra_headers: Headers to add to each poll; a None value removes a header the client would send.
            extra_query: Query parameters to add to each poll.
            timeout: Timeout of each poll request in seconds, overriding the client's.
            total_timeout: Seconds for each poll call (its retries included), overriding the client's.

        Raises:
            VideoTaskFailedError: the task ended with status `failed` (`.task` is its last state).
            VideoTaskTimeoutError: `poll_timeout` ran out first (the task goes on; `.task` is its last state).
        """
        if not isinstance(id, str) or not id:
            raise invalid_path_parameter("id", id)

        async def fetch() -> VideoTask:
            return await self.query(
                id=id,
                extra_headers=extra_headers,
                extra_query=extra_query,
                timeout=timeout,
                total_timeout=total_timeout,
            )

        return await wait_for_task(
            fetch,
            None,
            what="video task",
            poll_interval=poll_interval,
            poll_timeout=poll_timeout,
            on_progress=on_progress,
        )

    async def create_and_poll(  # type: ignore[misc]
        self: AsyncVideo,
        *,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        poll_timeout: Optional[float] = DEFAULT_POLL_TIMEOUT,
        on_progress: Optional[Callable[[VideoTask], object]] = None,
        extra_headers: Optional[Headers] = None,
        extra_query: Optional[Query] = None,
        extra_body: Optional[Body] = None,
        timeout: Union[float, httpx.Timeout, NotGiven, None] = NOT_GIVEN,
        total_timeout: Union[float, NotGiven, None] = NOT_GIVEN,
        **create_params: Any,
    ) -> VideoTask:
        """`video.create(**create_params)`, then `video.poll` until the task is `completed`; return it.

        `create_params` are those of `video.create` (`model`, `prompt`, `images`, `aspect_ratio`, ...). The
        polling options are checked before the task is created. The request options apply to the create call and
        to every poll; `extra_body` to the create call only.

        Raises:
            VideoTaskFailedError: the task ended with status `failed` (`.task` is its last state).
            VideoTaskTimeoutError: `poll_timeout` ran out first (the task goes on; `.task` is its last state).
        """
        check_poll_options(poll_interval, poll_timeout, on_progress)
        created = await self.create(
            **create_params,
            extra_headers=extra_headers,
            extra_query=extra_query,
            extra_body=extra_body,
            timeout=timeout,
            total_timeout=total_timeout,
        )
        return await self.poll(
            created.id,
            poll_interval=poll_interval,
            poll_timeout=poll_timeout,
            on_progress=on_progress,
            extra_headers=extra_headers,
            extra_query=extra_query,
            timeout=timeout,
            total_timeout=total_timeout,
        )
