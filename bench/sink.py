#!/usr/bin/env python3
"""sink: a tiny local stand-in for the provider APIs (Jelou, UChat, Aelyst).

Point a provider's `base_url` at it (e.g. `base_url = "http://127.0.0.1:9999"`) to walk
through rules without touching a real platform, or to give the end-to-end benchmark a
provider that answers fast.

By default every request gets `200 {"success":true,"status":"ok"}`, except a GET whose
path has a `subscribers` segment (UChat's "find subscriber by phone/email",
`GET /subscribers?phone=...`, also under a base-url prefix such as `/api/subscribers`), which
gets `200 {"status":"ok","data":[{"user_ns":"sink-user-ns"}]}`.

Modes, to watch Switchboard retry, dead-letter and wait (they combine):
  --fail-first N   answer 500 (or --fail-status) to the first N requests, then as usual
  --status CODE    answer CODE to every request after those (500 or 503: retried until
                   the attempts run out; 400: a final answer, a dead letter at once;
                   429: a rate limit)
  --retry-after S  the `Retry-After: S` header on every 429 and 503 answer (default 1)
  --delay-ms N     wait N milliseconds before each answer
A non-2xx answer's body is `{"error":"sink.py answered CODE"}`.

One line per request goes to stdout, `METHOD path body -> STATUS` (body as compact JSON
when it is JSON; STATUS the status it answered), unless --quiet. On SIGINT or SIGTERM it
prints `sink: N requests` and exits 0. The listening address goes to stderr at start-up.

Standard library only (asyncio, HTTP/1.1 with keep-alive, Content-Length and chunked
bodies). Examples:

    python3 bench/sink.py --port 9999
    python3 bench/sink.py --port 0 --quiet     # any free port, printed on stderr
    python3 bench/sink.py --fail-first 2       # two 500s, then 200s: a retry
    python3 bench/sink.py --status 400         # every delivery fails for good
"""

import argparse
import asyncio
import json
import signal
import sys
from http import HTTPStatus

OK_BODY = b'{"success":true,"status":"ok"}'
SUBSCRIBERS_BODY = b'{"status":"ok","data":[{"user_ns":"sink-user-ns"}]}'
MAX_HEAD = 64 * 1024
MAX_BODY = 16 * 1024 * 1024


class Sink:
    def __init__(self, args) -> None:
        self.quiet = args.quiet
        self.fail_first = args.fail_first
        self.fail_status = args.fail_status
        self.status = args.status
        self.retry_after = args.retry_after
        self.delay = args.delay_ms / 1000
        self.count = 0

    def answer(self, method: str, path: str):
        """The status, extra headers and body for the request numbered `self.count`."""
        status = self.fail_status if self.count <= self.fail_first else self.status
        if 200 <= status < 300:
            if method == "GET" and "subscribers" in path.split("/"):
                return status, [], SUBSCRIBERS_BODY
            return status, [], OK_BODY
        headers = []
        if status in (429, 503):
            headers.append(("Retry-After", self.retry_after))
        return status, headers, json.dumps({"error": f"sink.py answered {status}"}, separators=(",", ":")).encode()

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
                status, extra, answer = self.answer(method, target.split("?", 1)[0])
                if self.delay:
                    await asyncio.sleep(self.delay)
                if not self.quiet:
                    self.log(method, target, body, status)

                conn = headers.get("connection", "").lower()
                close = conn == "close" or (version == "HTTP/1.0" and conn != "keep-alive")
                await self.reply(
                    writer, status, answer, close=close, head_only=method == "HEAD", extra=extra
                )
                if close:
                    return
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            return
        except asyncio.CancelledError:
            return  # stopped (Ctrl-C) with a keep-alive connection open: not an error
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
    async def reply(
        writer, status: int, body: bytes, close=False, head_only=False, extra=()
    ) -> None:
        try:
            reason = HTTPStatus(status).phrase
        except ValueError:
            reason = "Unknown"
        head = (
            f"HTTP/1.1 {status} {reason}\r\n"
            "Content-Type: application/json\r\n"
            + "".join(f"{name}: {value}\r\n" for name, value in extra)
            + f"Content-Length: {len(body)}\r\n"
            f"Connection: {'close' if close else 'keep-alive'}\r\n\r\n"
        ).encode()
        writer.write(head if head_only else head + body)
        await writer.drain()

    @staticmethod
    def log(method: str, target: str, body: bytes, status: int) -> None:
        text = body.decode("utf-8", errors="replace")
        if text:
            try:
                text = json.dumps(json.loads(text), separators=(",", ":"), ensure_ascii=False)
            except ValueError:
                text = text.replace("\r", "\\r").replace("\n", "\\n")
        line = f"{method} {target} {text}" if text else f"{method} {target}"
        sys.stdout.write(f"{line} -> {status}\n")
        sys.stdout.flush()


async def serve(args) -> int:
    sink = Sink(args)
    server = await asyncio.start_server(
        sink.handle, args.host, args.port, limit=MAX_HEAD, backlog=1024
    )
    stop = asyncio.get_running_loop().create_future()
    for sig in (signal.SIGINT, signal.SIGTERM):
        asyncio.get_running_loop().add_signal_handler(
            sig, lambda: stop.done() or stop.set_result(None)
        )
    # Announced only once a signal stops it cleanly.
    port = server.sockets[0].getsockname()[1]
    print(f"sink: listening on http://{args.host}:{port}", file=sys.stderr, flush=True)
    await stop
    server.close()
    sys.stdout.write(f"sink: {sink.count} requests\n")
    sys.stdout.flush()
    return 0


def status_code(text: str) -> int:
    """An HTTP status code, 200-599, for argparse."""
    try:
        code = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 200 <= code <= 599:
        raise argparse.ArgumentTypeError(f"{code} is not a status between 200 and 599")
    return code


def main() -> int:
    p = argparse.ArgumentParser(
        description="Mock provider API: answers 200 to everything (unless a mode below says"
        " otherwise) and prints each request and its answer's status."
    )
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=9999, help="port (default 9999; 0 = any free)")
    p.add_argument("--quiet", action="store_true", help="don't print a line per request")
    p.add_argument(
        "--fail-first",
        type=int,
        default=0,
        metavar="N",
        help="answer --fail-status to the first N requests, then as usual (default 0)",
    )
    p.add_argument(
        "--fail-status",
        type=status_code,
        default=500,
        metavar="CODE",
        help="the status of those first N answers (default 500)",
    )
    p.add_argument(
        "--status",
        type=status_code,
        default=200,
        metavar="CODE",
        help="the status of every other answer (default 200; e.g. 500, 400 or 429)",
    )
    p.add_argument(
        "--retry-after",
        type=int,
        default=1,
        metavar="SECONDS",
        help="Retry-After on 429 and 503 answers (default 1)",
    )
    p.add_argument(
        "--delay-ms",
        type=int,
        default=0,
        metavar="N",
        help="wait N milliseconds before each answer (default 0)",
    )
    args = p.parse_args()
    if args.fail_first < 0 or args.delay_ms < 0 or args.retry_after < 0:
        p.error("--fail-first, --delay-ms and --retry-after cannot be negative")
    try:
        return asyncio.run(serve(args))
    except OSError as e:
        print(f"sink: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
