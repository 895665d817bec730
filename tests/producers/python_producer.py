#!/usr/bin/env python3
"""Writes delivery-log records with Python's confluent-kafka (librdkafka), set
up as docs/delivery-log.md asks of any producer:

  key        the webhook id, UTF-8
  partition  Kafka's Java partitioner: librdkafka's `murmur2_random`
             (its default, `consistent_random`, is CRC32 and disagrees)
  timestamp  CreateTime in ms: when the event was delivered
  value      {"event_id", "webhook_id", "event_type", "created_at", "payload", "delivery"?}
  Snappy, idempotence, acks=all

tests/it/producers.rs runs it with the `producers` venv of infra/local/up.sh
($PRODUCERS_VENV/bin/python). It writes COUNT records per --webhook, the i-th
at START_MS + i * STEP_MS with event id PREFIX-(FIRST + i) (PREFIX-WEBHOOK-i
when there are several webhooks), and prints one JSON line per acknowledged record:
{"event_id", "webhook_id", "partition", "offset", "timestamp"}. It exits 1 if
any record was not acknowledged.
"""

import argparse
import datetime
import json
import sys

from confluent_kafka import Producer

# The settings that matter for the replay (docs/delivery-log.md).
SETTINGS = {
    "partitioner": "murmur2_random",
    "compression.type": "snappy",
    "enable.idempotence": True,
    "acks": "all",
    "linger.ms": 5,
}


def created_at(ms):
    t = datetime.datetime.fromtimestamp(ms / 1000, tz=datetime.timezone.utc)
    return t.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--brokers", required=True)
    p.add_argument("--topic", required=True)
    p.add_argument("--webhook", action="append", required=True, help="repeat for several webhooks")
    p.add_argument("--count", type=int, required=True, help="records per webhook")
    p.add_argument("--start-ms", type=int, required=True)
    p.add_argument("--step-ms", type=int, default=1000)
    p.add_argument("--prefix", default="py")
    p.add_argument("--first", type=int, default=0, help="number of the first event id")
    args = p.parse_args()

    producer = Producer({"bootstrap.servers": args.brokers, **SETTINGS})
    written, failed = [], []

    def on_delivery(err, msg):
        if err is not None:
            failed.append(str(err))
            return
        _, ts = msg.timestamp()
        written.append({
            "event_id": json.loads(msg.value())["event_id"],
            "webhook_id": msg.key().decode(),
            "partition": msg.partition(),
            "offset": msg.offset(),
            "timestamp": ts,
        })

    for webhook in args.webhook:
        for i in range(args.count):
            ts = args.start_ms + i * args.step_ms
            n = args.first + i
            event_id = f"{args.prefix}-{n}" if len(args.webhook) == 1 else f"{args.prefix}-{webhook}-{n}"
            value = {
                "event_id": event_id,
                "webhook_id": webhook,
                "event_type": "tweet_create_events",
                "created_at": created_at(ts),
                "payload": {"for_user_id": "2244994945", "producer": "python", "n": n},
                "delivery": {"status": "failed", "http_status": 503},
            }
            producer.produce(args.topic, key=webhook.encode(), value=json.dumps(value).encode(),
                             timestamp=ts, on_delivery=on_delivery)
            producer.poll(0)
    left = producer.flush(30)
    for w in written:
        print(json.dumps(w))
    if failed or left:
        print(f"not written: {left} still queued, errors: {failed[:5]}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
