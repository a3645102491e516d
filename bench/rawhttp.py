"""The benchmarks' load-generator client: one keep-alive HTTP/1.1 connection on asyncio streams.

httpx costs a load generator a few milliseconds of CPU per request, and on a 2-core machine that
CPU is taken from the servers being measured. This client does only what the benchmarks need:
a request with a Content-Length body, an answer with a Content-Length body, and one reconnect when
the server has closed an idle keep-alive connection.
"""

from __future__ import annotations

import asyncio


class RawClient:
    def __init__(self, port: int, host: str = "127.0.0.1") -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(
        self, method: str, target: str, headers: dict[str, str] | None = None, body: bytes = b""
    ) -> tuple[int, bytes]:
        """(status, body). Raises ConnectionError or IncompleteReadError when a reconnect fails too."""
        try:
            return await self._request(method, target, headers or {}, body)
        except (ConnectionError, asyncio.IncompleteReadError):
            self.writer = None  # the server closed an idle keep-alive connection: reconnect once
            return await self._request(method, target, headers or {}, body)

    async def _request(self, method: str, target: str, headers: dict[str, str], body: bytes) -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        head = [f"{method} {target} HTTP/1.1", f"Host: {self.host}", f"Content-Length: {len(body)}"]
        head += [f"{name}: {value}" for name, value in headers.items()]
        self.writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + body)
        raw = await self.reader.readuntil(b"\r\n\r\n")
        lines = raw.split(b"\r\n")
        status = int(lines[0].split(b" ", 2)[1])
        length = 0
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        return status, await self.reader.readexactly(length)

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None
