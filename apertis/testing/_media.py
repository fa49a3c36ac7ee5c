"""Tiny but well-formed media payloads: audio per speech format, PNG images, an MP4 container."""

from __future__ import annotations

import math
import struct
import zlib
from typing import Optional

__all__ = ["TEXT_MARKER", "audio_bytes", "find_embedded_text", "mp4_bytes", "png_bytes", "AUDIO_MEDIA_TYPES"]

# Speech output carries its input text after this marker, so that transcribing audio made by the fake server
# gives the text back: a deterministic round trip for users' tests.
TEXT_MARKER = b"APERTIS-FAKE-TEXT:"

AUDIO_MEDIA_TYPES = {
    "mp3": "audio/mpeg",
    "opus": "audio/opus",
    "aac": "audio/aac",
    "flac": "audio/flac",
    "wav": "audio/wav",
    "pcm": "audio/pcm",
}

_RATE = 8000


def _samples(text: str) -> bytes:
    """16-bit mono PCM: a quiet tone whose length follows the text (50 ms per character, 0.2-2 s)."""
    seconds = min(2.0, max(0.2, 0.05 * len(text)))
    count = int(_RATE * seconds)
    pitch = 220 + (sum(text.encode("utf-8")) % 220)
    return b"".join(struct.pack("<h", int(3000 * math.sin(2 * math.pi * pitch * i / _RATE))) for i in range(count))


def _marker(text: str) -> bytes:
    return TEXT_MARKER + text.encode("utf-8") + b"\x00"


def audio_bytes(text: str, response_format: str) -> bytes:
    """A small audio file of the requested format that embeds `text`."""
    pcm = _samples(text)
    marker = _marker(text)
    if response_format == "wav":
        comment = marker + (b"\x00" if len(marker) % 2 else b"")
        info = b"INFO" + b"ICMT" + struct.pack("<I", len(comment)) + comment
        fmt = struct.pack("<HHIIHH", 1, 1, _RATE, _RATE * 2, 2, 16)
        chunks = (
            b"fmt "
            + struct.pack("<I", len(fmt))
            + fmt
            + b"LIST"
            + struct.pack("<I", len(info))
            + info
            + b"data"
            + struct.pack("<I", len(pcm))
            + pcm
        )
        return b"RIFF" + struct.pack("<I", 4 + len(chunks)) + b"WAVE" + chunks
    if response_format == "pcm":
        return pcm + marker
    if response_format == "flac":
        # fLaC + a last-metadata-block STREAMINFO (sample rate, channels, bits, total samples) + a VORBIS_COMMENT.
        samples = len(pcm) // 2
        info = struct.pack(">HH", 4096, 4096) + b"\x00\x00\x00\x00\x00\x00"
        packed = (_RATE << 44) | (0 << 41) | (15 << 36) | samples
        info += packed.to_bytes(8, "big") + b"\x00" * 16
        vendor = b"apertis.testing"
        comment = struct.pack("<I", len(vendor)) + vendor + struct.pack("<I", 1)
        comment += struct.pack("<I", len(marker)) + marker
        return (
            b"fLaC"
            + bytes([0])
            + len(info).to_bytes(3, "big")
            + info
            + bytes([0x80 | 4])
            + len(comment).to_bytes(3, "big")
            + comment
        )
    if response_format == "opus":
        head = b"OpusHead" + struct.pack("<BBHIhB", 1, 1, 312, 48000, 0, 0)
        tags = b"OpusTags" + struct.pack("<I", 15) + b"apertis.testing" + struct.pack("<I", 1)
        tags += struct.pack("<I", len(marker)) + marker
        return _ogg_page(head, 0, 2) + _ogg_page(tags, 1, 0)
    if response_format == "aac":
        frame = b"\x00" * 16
        length = 7 + len(frame)
        # ADTS header: sync word, MPEG-4, no CRC, AAC LC, 16 kHz, mono, frame length.
        header = bytes(
            [0xFF, 0xF1, 0x60 | (8 << 2), 0x40 | (length >> 11), (length >> 3) & 0xFF, ((length & 7) << 5) | 0x1F, 0xFC]
        )
        frames = (header + frame) * max(4, len(text) // 4)
        return frames + marker
    # mp3: an ID3v2.3 tag with a comment frame, then silent MPEG-1 Layer III frames (128 kbit/s, 44.1 kHz).
    payload = b"\x03eng\x00" + marker
    frame = b"COMM" + struct.pack(">I", len(payload)) + b"\x00\x00" + payload
    size = len(frame)
    synchsafe = bytes([(size >> 21) & 0x7F, (size >> 14) & 0x7F, (size >> 7) & 0x7F, size & 0x7F])
    tag = b"ID3\x03\x00\x00" + synchsafe + frame
    mpeg_frame = b"\xff\xfb\x90\x64" + b"\x00" * 413
    return tag + mpeg_frame * max(8, len(text) // 2)


def _ogg_page(packet: bytes, sequence: int, flags: int) -> bytes:
    segments = [255] * (len(packet) // 255) + [len(packet) % 255]
    header = b"OggS" + struct.pack("<BBqIIIB", 0, flags, 0, 0x41505453, sequence, 0, len(segments))
    page = header + bytes(segments) + packet
    crc = _ogg_crc(page)
    return page[:22] + struct.pack("<I", crc) + page[26:]


def _ogg_crc(data: bytes) -> int:
    crc = 0
    for byte in data:
        crc ^= byte << 24
        for _ in range(8):
            crc = ((crc << 1) ^ 0x04C11DB7) if crc & 0x80000000 else crc << 1
            crc &= 0xFFFFFFFF
    return crc


def find_embedded_text(data: bytes) -> Optional[str]:
    """The text a fake speech file carries, if `data` is one."""
    start = data.find(TEXT_MARKER)
    if start < 0:
        return None
    start += len(TEXT_MARKER)
    end = data.find(b"\x00", start)
    raw = data[start : end if end >= 0 else len(data)]
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return None


def png_bytes(width: int, height: int, seed: int) -> bytes:
    """A solid-colour RGB PNG whose colour is derived from `seed`."""
    colour = bytes([(seed >> 16) & 0xFF, (seed >> 8) & 0xFF, seed & 0xFF])
    row = b"\x00" + colour * width
    raw = zlib.compress(row * height, 9)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", raw) + chunk(b"IEND", b"")


def mp4_bytes(label: str) -> bytes:
    """A minimal ISO base-media file: an `ftyp` box and a `free` box naming the video."""
    ftyp = b"isom" + struct.pack(">I", 512) + b"isomiso2mp41"
    free = label.encode("utf-8")
    return struct.pack(">I", 8 + len(ftyp)) + b"ftyp" + ftyp + struct.pack(">I", 8 + len(free)) + b"free" + free
