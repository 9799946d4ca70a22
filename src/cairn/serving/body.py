"""Reading a request body: the size limit, and ``Content-Encoding`` (gzip, deflate).

The limit holds for the bytes received and again for the bytes they decompress to, so
a small compressed body that inflates to gigabytes (a "zip bomb") is refused with 413
after at most ``limit + 1`` bytes of output, never held in memory whole.
"""

from __future__ import annotations

import zlib
from collections.abc import Awaitable, Callable
from typing import Any

from cairn.serving.spec import ServingError

Receive = Callable[[], Awaitable[dict[str, Any]]]

#: Content codings a request may use, as HTTP names them.
ENCODINGS = ("gzip", "deflate", "identity")


async def read_body(receive: Receive, content_length: int, limit: int) -> bytes:
    """The whole body as sent, refused with 413 as soon as it passes ``limit`` bytes."""
    if content_length > limit:
        raise ServingError(too_large(content_length, limit), status=413)
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ServingError("the client went away", status=400)
        chunk = message.get("body", b"")
        if chunk:
            size += len(chunk)
            if size > limit:
                raise ServingError(too_large(size, limit), status=413)
            chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def decode_content(data: bytes, encoding: str, limit: int) -> bytes:
    """``data`` with its ``Content-Encoding`` undone, at most ``limit`` bytes of it.

    Codings are listed in the order they were applied, so they are undone last first.
    An unknown coding is a 415, a corrupt or truncated stream a 400, and output past
    ``limit`` a 413.
    """
    codings = [c.strip().lower() for c in encoding.split(",") if c.strip()]
    for coding in reversed(codings):
        if coding == "identity":
            continue
        if coding in ("gzip", "x-gzip"):
            data = _inflate(data, "gzip", limit)
        elif coding == "deflate":
            data = _inflate(data, "deflate", limit)
        else:
            raise ServingError(
                f"Content-Encoding {coding!r} is not supported; send the body uncompressed, "
                "or compressed with gzip or deflate",
                status=415,
            )
    return data


def _inflate(data: bytes, coding: str, limit: int) -> bytes:
    if coding == "gzip":
        return _members(data, limit)
    try:  # HTTP's deflate is a zlib stream; some clients send raw deflate instead
        out, rest = _stream(data, zlib.MAX_WBITS, limit, coding)
    except zlib.error:
        try:
            out, rest = _stream(data, -zlib.MAX_WBITS, limit, coding)
        except zlib.error:
            raise ServingError(
                "the deflate body is corrupt; send a valid zlib or deflate stream", status=400
            ) from None
    if rest:
        raise ServingError("the deflate body has data after its end", status=400)
    return out


def _members(data: bytes, limit: int) -> bytes:
    """Every member of a gzip body (concatenated members are one valid gzip stream)."""
    parts: list[bytes] = []
    size = 0
    rest = data
    while True:
        try:
            out, rest = _stream(rest, 16 + zlib.MAX_WBITS, limit - size, "gzip")
        except zlib.error:
            raise ServingError("the gzip body is corrupt; send valid gzip", status=400) from None
        parts.append(out)
        size += len(out)
        if not rest.strip(b"\0"):  # trailing zero padding is tolerated, as gzip does
            return b"".join(parts)


def _stream(data: bytes, wbits: int, room: int, coding: str) -> tuple[bytes, bytes]:
    """One compressed stream of ``data``: its output (at most ``room`` bytes) and the
    bytes after its end. Raises ``zlib.error`` for a stream that does not decode."""
    inflater = zlib.decompressobj(wbits)
    out = inflater.decompress(data, room + 1)
    if len(out) > room or inflater.unconsumed_tail:
        raise ServingError(
            f"the {coding} request body decompresses to more than the size limit "
            f"({len(data)} bytes compressed); send smaller batches or raise --max-body",
            status=413,
        )
    if not inflater.eof:
        raise ServingError(
            f"the {coding} body is truncated; send the whole compressed stream", status=400
        )
    return out, inflater.unused_data


def too_large(size: int, limit: int) -> str:
    return (
        f"request body of {size} bytes is over the {limit}-byte limit; "
        "send smaller batches or raise --max-body"
    )
