#!/usr/bin/env python3
"""A third-party client of tallylog's log stream, written with nats-py only
from docs/PROTOCOL.md §9 and tallylog_nats's subject table: it replays every
entry on one subject filter (a region's, say) and prints one JSON line per
entry: its index (from the entry itself) and the SHA-256 of its bytes.

Usage: nats_client.py NATS_URL ELECTION SUBJECT_FILTER COUNT
It exits once COUNT entries have arrived, or fails after 30 s without one.
"""
import asyncio
import hashlib
import json
import sys

import nats
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy


async def main(url, election, subject, count):
    nc = await nats.connect(url)
    js = nc.jetstream()
    sub = await js.pull_subscribe(
        subject,
        durable=None,
        stream=f"tallylog-{election}-log",
        config=ConsumerConfig(
            filter_subject=subject,
            deliver_policy=DeliverPolicy.ALL,
            ack_policy=AckPolicy.NONE,
        ),
    )
    seen = 0
    while seen < count:
        msgs = await sub.fetch(min(512, count - seen), timeout=30)
        for m in msgs:
            entry = json.loads(m.data)
            print(json.dumps({"index": entry["index"], "sha256": hashlib.sha256(m.data).hexdigest()}))
            seen += 1
    await nc.close()


if __name__ == "__main__":
    url, election, subject, count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    asyncio.run(main(url, election, subject, count))
