"""Hand-written methods of `client.videos` (the generated AsyncVideos inherits AsyncVideosMixin)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Optional, Union

from ..._types import NOT_GIVEN, Body, Headers, NotGiven, Query
from ..._validation import invalid_path_parameter
from .._polling import DEFAULT_POLL_INTERVAL, DEFAULT_POLL_TIMEOUT, check_poll_options, wait_for_task
from .._resource import AsyncAPIResource

if TYPE_CHECKING:
    import httpx

    from ...types.video import Video
    from ..resources.videos import AsyncVideos

__all__ = ["AsyncVideosMixin"]


class AsyncVideosMixin(AsyncAPIResource):
    """`create_and_poll` and `poll`: wait for a video job to finish."""

    async def poll(  # type: ignore[misc]  # self type: see AsyncModelsMixin.exists
        self: AsyncVideos,
        video_id: str,
        *,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        poll_timeout: Optional[float] = DEFAULT_POLL_TIMEOUT,
        on_progress: Optional[Callable[[Video], object]] = None,
        extra_headers: Optional[Headers] = None,
        extra_query: Optional[Query] = None,
        timeout: Union[float, httpx.Timeout, NotGiven, None] = NOT_GIVEN,
        total_timeout: Union[float, NotGiven, None] = NOT_GIVEN,
    ) -> Video:
        """Call `videos.retrieve(video_id)` every `poll_interval` seconds until the job is `completed`; return it.

        Then `videos.download_content(video.id).write_to_file(path)` saves the file. Any status other than
        `completed` and `failed` (`queued`, `in_progress`, and the legacy `pending`, `processing`) means "still
        running".

        Args:
            video_id: The id `videos.create` or `videos.remix` returned.
            poll_interval: Seconds between two polls (default 5).
            poll_timeout: Seconds to wait in all (default 1800), None for no limit.
            on_progress: Called with each state the API reports (`status`, `progress`), the first one included.
            extra_headers: Headers to add to each poll; a None value removes a header the client would send.
            extra_query: Query parameters to add to each poll.
            timeout: Timeout of each poll request in seconds, overriding the client's.
            total_timeout: Seconds for each poll call (its retries included), overriding the client's.

        Raises:
            VideoTaskFailedError: the job ended with status `failed` (`.task` is its last state).
            VideoTaskTimeoutError: `poll_timeout` ran out first (the job goes on; `.task` is its last state).
        """
        if not isinstance(video_id, str) or not video_id:
            raise invalid_path_parameter("video_id", video_id)

        async def fetch() -> Video:
            return await self.retrieve(
                video_id,
                extra_headers=extra_headers,
                extra_query=extra_query,
                timeout=timeout,
                total_timeout=total_timeout,
            )

        return await wait_for_task(
            fetch,
            None,
            what="video",
            poll_interval=poll_interval,
            poll_timeout=poll_timeout,
            on_progress=on_progress,
        )

    async def create_and_poll(  # type: ignore[misc]
        self: AsyncVideos,
        *,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        poll_timeout: Optional[float] = DEFAULT_POLL_TIMEOUT,
        on_progress: Optional[Callable[[Video], object]] = None,
        extra_headers: Optional[Headers] = None,
        extra_query: Optional[Query] = None,
        extra_body: Optional[Body] = None,
        timeout: Union[float, httpx.Timeout, NotGiven, None] = NOT_GIVEN,
        total_timeout: Union[float, NotGiven, None] = NOT_GIVEN,
        **create_params: Any,
    ) -> Video:
        """`videos.create(**create_params)`, then `videos.poll` until the job is `completed`; return it.

        `create_params` are those of `videos.create` (`model`, `prompt`, `seconds`, `size`, `input_reference`,
        ...). The polling options are checked before the job is created. The request options (`extra_headers`,
        `extra_query`, `timeout`, `total_timeout`) apply to the create call and to every poll; `extra_body` to the
        create call only.

        ```python
        video = client.videos.create_and_poll(model="sora-2", prompt="A red fox in snow", seconds="4",
                                              size="1280x720", on_progress=lambda v: print(v.status, v.progress))
        client.videos.download_content(video.id).write_to_file("fox.mp4")
        ```

        Raises:
            VideoTaskFailedError: the job ended with status `failed` (`.task` is its last state).
            VideoTaskTimeoutError: `poll_timeout` ran out first (the job goes on; `.task` is its last state).
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
