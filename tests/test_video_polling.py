"""`videos.create_and_poll` / `videos.poll` and the legacy `video.create_and_poll` / `video.poll`, sync and async,
against the offline server (which moves a task one status further per poll) and pytest-httpx."""

from __future__ import annotations

from pathlib import Path
from typing import Any, AsyncIterator, Awaitable, Callable, List

import pytest
from pytest_httpx import HTTPXMock

import apertis
from apertis.testing import FakeApertis

Call = Callable[..., Awaitable[Any]]
VIDEOS = "https://api.test/v1/videos"


@pytest.fixture
async def fake_client(fake_apertis: FakeApertis, make_client: Callable[..., Any], call: Call) -> AsyncIterator[Any]:
    """A client of the current kind on the offline server, closed after the test."""
    client = make_client(base_url=fake_apertis.url)
    yield client
    await call(client.close)


async def test_create_and_poll_reaches_completed_and_the_content_downloads(
    fake_client: Any, call: Call, sleeps: List[float], tmp_path: Path
) -> None:
    client = fake_client
    seen: List[Any] = []
    video = await call(
        client.videos.create_and_poll,
        model="sora-2",
        prompt="A red fox in snow",
        seconds="4",
        size="1280x720",
        poll_interval=0.25,
        on_progress=seen.append,
    )
    assert video.status == "completed"
    assert [state.status for state in seen] == ["in_progress", "completed"]
    assert [state.progress for state in seen] == [50, 100]
    assert sleeps == [0.25]  # one wait between the two polls, none before the first
    target = tmp_path / "fox.mp4"
    await call((await call(client.videos.download_content, video.id)).write_to_file, target)
    assert target.stat().st_size > 0


async def test_legacy_video_create_and_poll(fake_client: Any, call: Call, sleeps: List[float]) -> None:
    client = fake_client
    seen: List[str] = []
    task = await call(
        client.video.create_and_poll,
        model="veo3-fast",
        prompt="A lighthouse",
        poll_interval=2,
        on_progress=lambda t: seen.append(t.status),
    )
    assert task.status == "completed" and task.video_url
    assert seen == ["processing", "completed"]
    assert sleeps == [2]
    again = await call(client.video.poll, task.id, poll_interval=0)
    assert again.status == "completed"


def _video(status: str, **extra: Any) -> dict[str, Any]:
    return {"id": "video_1", "object": "video", "status": status, **extra}


async def test_a_failed_task_raises_with_its_last_state(
    httpx_mock: HTTPXMock, make_client: Callable[..., Any], call: Call, sleeps: List[float]
) -> None:
    httpx_mock.add_response(url=VIDEOS + "/video_1", json=_video("queued"))
    httpx_mock.add_response(url=VIDEOS + "/video_1", json=_video("failed", error={"message": "content policy"}))
    with pytest.raises(apertis.VideoTaskFailedError, match="'video_1' failed: content policy") as caught:
        await call(make_client().videos.poll, "video_1", poll_interval=1)
    assert caught.value.task.status == "failed"


async def test_an_unknown_status_keeps_waiting(
    httpx_mock: HTTPXMock, make_client: Callable[..., Any], call: Call, sleeps: List[float]
) -> None:
    httpx_mock.add_response(url=VIDEOS + "/video_1", json=_video("upscaling"))
    httpx_mock.add_response(url=VIDEOS + "/video_1", json=_video("completed"))
    video = await call(make_client().videos.poll, "video_1", poll_interval=1)
    assert video.status == "completed"


async def test_poll_timeout_raises_and_says_the_task_goes_on(
    httpx_mock: HTTPXMock, make_client: Callable[..., Any], call: Call
) -> None:
    httpx_mock.add_response(url=VIDEOS + "/video_1", json=_video("in_progress"), is_reusable=True)
    with pytest.raises(apertis.VideoTaskTimeoutError, match="still in_progress") as caught:
        await call(make_client().videos.poll, "video_1", poll_interval=0.01, poll_timeout=0.05)
    assert isinstance(caught.value, TimeoutError)
    assert caught.value.task.id == "video_1"


async def _async_callback(task: Any) -> None:
    """Not accepted: its coroutine would never be awaited."""


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("poll_interval", -1),
        ("poll_interval", "5"),
        ("poll_timeout", 0),
        ("on_progress", "print"),
        ("on_progress", _async_callback),
    ],
)
async def test_bad_polling_options_fail_before_the_task_is_created(
    httpx_mock: HTTPXMock, make_client: Callable[..., Any], call: Call, option: str, value: Any
) -> None:
    with pytest.raises(TypeError, match=option):
        await call(make_client().videos.create_and_poll, model="sora-2", prompt="x", **{option: value})
    assert httpx_mock.get_requests() == []
