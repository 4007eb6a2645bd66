#!/usr/bin/env python3
"""Pre-generate signed Jelou webhook requests for the ingest benchmark.

Writes one request per line: the X-Jelou-Signature header value, a tab, then the raw JSON
body (compact, so it has no tab or newline in it):

    sha256=<lowercase hex HMAC-SHA256(secret, body)>\t{"object":"message_event",...}

Every body has its own `value.id` (Switchboard's dedupe key for Jelou events), so each line
is one new, durable event; sending a line twice gets a `"duplicate": true` answer.

Standard library only. Example:

    python3 bench/gen_jelou.py --count 600000 --secret bench-secret --out /tmp/reqs.tsv
"""

import argparse
import hashlib
import hmac
import os
import sys
import time

# value.id, timestamp and contact.id vary per line; the rest is the documented shape of a
# Jelou external-support message event (docs/providers.md).
TEMPLATE = (
    '{{"object":"message_event","event_type":"message","timestamp":{ts},'
    '"project_id":"p1","room_id":"r1",'
    '"contact":{{"id":"{contact}","name":"Ana"}},'
    '"conversation":{{"id":"c1"}},"bot":{{"id":"bot-12345"}},'
    '"value":{{"id":"{vid}","type":"text","content":{{"body":"hola"}}}}}}'
)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--count", type=int, required=True, help="number of requests (lines)")
    p.add_argument("--secret", required=True, help="the source's signing secret")
    p.add_argument("--out", default="-", help="output file (default: stdout)")
    p.add_argument(
        "--prefix",
        default=None,
        help="value.id prefix; default bench-<unix time>-<pid>, unique per run",
    )
    p.add_argument("--start", type=int, default=0, help="first sequence number (default 0)")
    p.add_argument(
        "--contacts",
        type=int,
        default=1000,
        help="number of distinct contact ids to cycle through (default 1000)",
    )
    args = p.parse_args()
    if args.count < 0 or args.contacts < 1:
        p.error("--count must be >= 0 and --contacts >= 1")

    prefix = args.prefix or f"bench-{int(time.time())}-{os.getpid()}"
    if any(c in prefix for c in '"\\\t\n'):
        p.error("--prefix must not contain quotes, backslashes, tabs or newlines")
    key = args.secret.encode()
    ts0 = int(time.time() * 1000)
    digest = hmac.digest  # one-shot OpenSSL path, much faster than hmac.new(...)

    out = sys.stdout.buffer if args.out == "-" else open(args.out, "wb", buffering=1 << 20)
    try:
        chunk = []
        for i in range(args.start, args.start + args.count):
            body = TEMPLATE.format(
                ts=ts0 + i,
                contact=f"5730011{i % args.contacts:05d}",
                vid=f"{prefix}-{i:09d}",
            ).encode()
            sig = digest(key, body, hashlib.sha256).hex()
            chunk.append(b"sha256=" + sig.encode() + b"\t" + body + b"\n")
            if len(chunk) >= 10000:
                out.write(b"".join(chunk))
                chunk.clear()
        out.write(b"".join(chunk))
        out.flush()
    finally:
        if out is not sys.stdout.buffer:
            out.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
