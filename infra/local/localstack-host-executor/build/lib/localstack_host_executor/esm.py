"""SQS event source mappings that invoke concurrently, as Lambda's do.

Lambda polls an SQS queue with several pollers and runs up to the mapping's
ScalingConfig.MaximumConcurrency invocations at once (five pollers to start
with). LocalStack 4.13 runs one poller thread per mapping that invokes
synchronously, so one slow invocation holds up every message behind it and a
queue is worked one batch at a time. This starts more copies of LocalStack's
own polling (its ReceiveMessage, invoke, ReportBatchItemFailures handling and
deletes are unchanged) on the same mapping: min(MaximumConcurrency, the cap
HOST_EXECUTOR_ESM_MAX_POLLERS, default 10) in all.
"""

from __future__ import annotations

import logging
import os
import threading

LOG = logging.getLogger(__name__)

DEFAULT_POLLERS = 5  # Lambda's starting number of SQS pollers


def pollers_for(esm_config: dict) -> int:
    cap = int(os.environ.get("HOST_EXECUTOR_ESM_MAX_POLLERS") or 10)
    maximum = (esm_config.get("ScalingConfig") or {}).get("MaximumConcurrency") or DEFAULT_POLLERS
    return max(1, min(int(maximum), cap))


def patch_event_source_mappings() -> None:
    from localstack.services.lambda_.event_source_mapping.esm_worker import EsmWorker
    from localstack.services.lambda_.event_source_mapping.pollers.poller import EmptyPollResultsException
    from localstack.services.lambda_.event_source_mapping.pollers.sqs_poller import SqsPoller

    if getattr(EsmWorker, "_host_executor_patched", False):
        return
    original_start = EsmWorker.start

    def extra_poller_loop(worker: EsmWorker, number: int) -> None:
        # The first thread (LocalStack's poller_loop) owns the mapping's state;
        # these only poll, with the same back-off on empty and failed polls.
        from localstack import config

        interval = config.LAMBDA_EVENT_SOURCE_MAPPING_POLL_INTERVAL_SEC
        while not worker._shutdown_event.is_set():
            wait = interval
            try:
                worker.poller.poll_events()
            except EmptyPollResultsException:
                wait = config.LAMBDA_EVENT_SOURCE_MAPPING_MAX_BACKOFF_ON_EMPTY_POLL_SEC
            except Exception as e:
                LOG.warning("extra poller %d of mapping %s failed: %s", number, worker.uuid, e)
                wait = 2.0
            worker._shutdown_event.wait(wait)

    def start(self: EsmWorker) -> None:
        original_start(self)
        if not isinstance(self.poller, SqsPoller):
            return
        count = pollers_for(self.esm_config)
        for number in range(1, count):
            threading.Thread(
                target=extra_poller_loop,
                args=(self, number),
                name=f"esm-poller-{self.uuid}-{number}",
                daemon=True,
            ).start()
        LOG.info("event source mapping %s polls with %d concurrent pollers", self.uuid, count)

    EsmWorker.start = start
    EsmWorker._host_executor_patched = True
