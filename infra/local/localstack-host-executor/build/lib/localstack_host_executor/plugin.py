"""What LocalStack loads: the `host` runtime executor (LAMBDA_RUNTIME_EXECUTOR=host)
and, at start, the process listing route and the event source mapping patch."""

from __future__ import annotations

import logging
import os

from localstack.http import Request, Response, route
from localstack.runtime import hooks
from localstack.services.lambda_.invocation.plugins import RuntimeExecutorPlugin

LOG = logging.getLogger(__name__)


class HostRuntimeExecutorPlugin(RuntimeExecutorPlugin):
    name = "host"

    def load(self, *args, **kwargs):
        from .executor import HostRuntimeExecutor

        return HostRuntimeExecutor


class ProcessListing:
    """GET /_host_executor/processes: every execution environment and its
    bootstrap's PID (infra/local/status.sh, and fault tests that kill or
    freeze a function's process)."""

    @route("/_host_executor/processes", methods=["GET"])
    def processes(self, request: Request) -> Response:
        from .executor import _REGISTRY_LOCK, REGISTRY

        with _REGISTRY_LOCK:
            executors = list(REGISTRY.values())
        name = request.args.get("function")
        listing = [e.describe() for e in executors if not name or e.function_name == name]
        return Response.for_json({"environments": listing})


@hooks.on_infra_start()
def host_executor_start() -> None:
    if os.environ.get("LAMBDA_RUNTIME_EXECUTOR", "") != "host":
        return
    from localstack.services.edge import ROUTER

    from .esm import patch_event_source_mappings

    ROUTER.add(ProcessListing())
    patch_event_source_mappings()
    LOG.info("host runtime executor: process listing at /_host_executor/processes, concurrent SQS pollers")
