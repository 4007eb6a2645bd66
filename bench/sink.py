#!/usr/bin/env python3
"""sink: a tiny local stand-in for the provider APIs (Jelou, UChat, Aelyst).

Point a provider's `base_url` at it (e.g. `base_url = "http://127.0.0.1:9999"`) to walk
through rules without touching a real platform, or to give the end-to-end benchmark a
provider that answers fast.

Every request gets `200 {"success":true,"status":"ok"}`, except a GET whose path has a
`subscribers` segment (UChat's "find subscriber by phone/email", `GET /subscribers?phone=...`,
also under a base-url prefix such as `/api/subscribers`), which gets
`200 {"status":"ok","data":[{"user_ns":"sink-user-ns"}]}`.

One line per request goes to stdout, `METHOD path body` (body as compact JSON when it is
JSON), unless --quiet. On SIGINT or SIGTERM it prints `sink: N requests` and exits 0.
The listening address goes to stderr at start-up.

Standard library only (asyncio, HTTP/1.1 with keep-alive, Content-Length and chunked
bodies). Example:

    python3 bench/sink.py --port 9999
    python3 bench/sink.py --port 0 --quiet     # any free port, printed on stderr
"""

import argparse
import asyncio
import json
import signal
import sys

OK_BODY = b'{"success":true,"status":"ok"}'
SUBSCRIBERS_BODY = b'{"status":"ok","data":[{"user_ns":"sink-user-ns"}]}'
MAX_HEAD = 64 * 1024
MAX_BODY = 16 * 1024 * 1024


class Sink:
    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self.count = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except asyncio.IncompleteReadError:
                    return  # client closed between requests
                except asyncio.LimitOverrunError:
                    await self.reply(writer, 431, b'{"error":"headers too large"}', close=True)
                    return
                lines = head.decode("latin-1").split("\r\n")
                parts = lines[0].split(" ")
                if len(parts) != 3:
                    await self.reply(writer, 400, b'{"error":"bad request line"}', close=True)
                    return
                method, target, version = parts
                headers = {}
                for line in lines[1:]:
                    if ":" in line:
                        name, value = line.split(":", 1)
                        headers[name.strip().lower()] = value.strip()

                if headers.get("expect", "").lower() == "100-continue":
                    writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
                body = await self.read_body(reader, headers)
                if body is None:
                    await self.reply(writer, 400, b'{"error":"bad body"}', close=True)
                    return

                self.count += 1
                if not self.quiet:
                    self.log(method, target, body)

                path = target.split("?", 1)[0]
                if method == "GET" and "subscribers" in path.split("/"):
                    answer = SUBSCRIBERS_BODY
                else:
                    answer = OK_BODY
                conn = headers.get("connection", "").lower()
                close = conn == "close" or (version == "HTTP/1.0" and conn != "keep-alive")
                await self.reply(writer, 200, answer, close=close, head_only=method == "HEAD")
                if close:
                    return
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            return
        finally:
            writer.close()

    @staticmethod
    async def read_body(reader: asyncio.StreamReader, headers: dict):
        if "chunked" in headers.get("transfer-encoding", "").lower():
            body = bytearray()
            while True:
                size_line = await reader.readuntil(b"\r\n")
                try:
                    size = int(size_line.split(b";", 1)[0].strip(), 16)
                except ValueError:
                    return None
                if size == 0:
                    # trailers, up to the empty line
                    while (await reader.readuntil(b"\r\n")) != b"\r\n":
                        pass
                    return bytes(body)
                if len(body) + size > MAX_BODY:
                    return None
                body += await reader.readexactly(size)
                await reader.readexactly(2)
        try:
            length = int(headers.get("content-length", "0"))
        except ValueError:
            return None
        if length < 0 or length > MAX_BODY:
            return None
        return await reader.readexactly(length) if length else b""

    @staticmethod
    async def reply(writer, status: int, body: bytes, close=False, head_only=False) -> None:
        reason = {200: "OK", 400: "Bad Request", 431: "Request Header Fields Too Large"}[status]
        head = (
            f"HTTP/1.1 {status} {reason}\r\n"
            "Content-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n"
            f"Connection: {'close' if close else 'keep-alive'}\r\n\r\n"
        ).encode()
        writer.write(head if head_only else head + body)
        await writer.drain()

    @staticmethod
    def log(method: str, target: str, body: bytes) -> None:
        text = body.decode("utf-8", errors="replace")
        if text:
            try:
                text = json.dumps(json.loads(text), separators=(",", ":"), ensure_ascii=False)
            except ValueError:
                text = text.replace("\r", "\\r").replace("\n", "\\n")
        line = f"{method} {target} {text}" if text else f"{method} {target}"
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


async def serve(args) -> int:
    sink = Sink(args.quiet)
    server = await asyncio.start_server(
        sink.handle, args.host, args.port, limit=MAX_HEAD, backlog=1024
    )
    port = server.sockets[0].getsockname()[1]
    print(f"sink: listening on http://{args.host}:{port}", file=sys.stderr, flush=True)

    stop = asyncio.get_running_loop().create_future()
    for sig in (signal.SIGINT, signal.SIGTERM):
        asyncio.get_running_loop().add_signal_handler(
            sig, lambda: stop.done() or stop.set_result(None)
        )
    await stop
    server.close()
    sys.stdout.write(f"sink: {sink.count} requests\n")
    sys.stdout.flush()
    return 0


def main() -> int:
    p = argparse.ArgumentParser(
        description="Mock provider API: answers 200 to everything and logs each request."
    )
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=9999, help="port (default 9999; 0 = any free)")
    p.add_argument("--quiet", action="store_true", help="don't print a line per request")
    args = p.parse_args()
    try:
        return asyncio.run(serve(args))
    except OSError as e:
        print(f"sink: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
