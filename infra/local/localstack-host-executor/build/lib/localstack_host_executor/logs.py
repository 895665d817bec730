"""Function output to CloudWatch Logs (LocalStack's logs service), as it is
written, so `aws logs tail --follow` and `sam logs` follow a running function.

LocalStack 4.13 writes what an invocation returns to /aws/lambda/<name> once
the invocation ends and ignores LoggingConfig.LogGroup; Lambda streams to the
configured group while the function runs. This sink does the latter.
"""

from __future__ import annotations

import logging
import threading
import time

LOG = logging.getLogger(__name__)

FLUSH_EVERY_S = 0.5
# PutLogEvents limits: 10,000 events and 1 MB per call (26 bytes each overhead).
MAX_EVENTS = 10_000
MAX_BYTES = 1_000_000
MAX_LINE = 256 * 1024


class LogSink:
    """Where the lines of one execution environment go."""

    def add(self, line: str) -> None:
        raise NotImplementedError

    def close(self) -> None:
        pass


class MemorySink(LogSink):
    """Keeps the lines (unit tests)."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def add(self, line: str) -> None:
        self.lines.append(line)


class CloudWatchSink(LogSink):
    def __init__(self, group: str, stream: str, region: str) -> None:
        self.group = group
        self.stream = stream
        self.region = region
        self._pending: list[dict] = []
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._client = None
        self._ready = False
        self._thread = threading.Thread(target=self._run, name=f"logs-{stream[-12:]}", daemon=True)
        self._thread.start()

    def add(self, line: str) -> None:
        if not line:
            return
        event = {"timestamp": int(time.time() * 1000), "message": line[:MAX_LINE]}
        with self._lock:
            self._pending.append(event)

    def close(self) -> None:
        self._closed.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while True:
            closing = self._closed.wait(FLUSH_EVERY_S)
            try:
                self._flush()
            except Exception as e:  # a logs hiccup must never stop the function
                LOG.debug("could not write logs to %s/%s: %s", self.group, self.stream, e)
            if closing:
                return

    def _logs(self):
        if self._client is None:
            from localstack.aws.connect import connect_to

            self._client = connect_to(region_name=self.region).logs
        return self._client

    def _ensure_stream(self) -> None:
        if self._ready:
            return
        logs = self._logs()
        try:
            logs.create_log_group(logGroupName=self.group)
        except logs.exceptions.ResourceAlreadyExistsException:
            pass
        try:
            logs.create_log_stream(logGroupName=self.group, logStreamName=self.stream)
        except logs.exceptions.ResourceAlreadyExistsException:
            pass
        self._ready = True

    def _flush(self) -> None:
        with self._lock:
            events, self._pending = self._pending, []
        if not events:
            return
        self._ensure_stream()
        batch: list[dict] = []
        size = 0
        for event in events:
            event_size = len(event["message"].encode()) + 26
            if batch and (len(batch) >= MAX_EVENTS or size + event_size > MAX_BYTES):
                self._logs().put_log_events(logGroupName=self.group, logStreamName=self.stream, logEvents=batch)
                batch, size = [], 0
            batch.append(event)
            size += event_size
        if batch:
            self._logs().put_log_events(logGroupName=self.group, logStreamName=self.stream, logEvents=batch)
