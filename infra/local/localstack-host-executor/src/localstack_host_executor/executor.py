"""LocalStack's Lambda execution environments as host processes.

LocalStack creates one executor per execution environment and reuses the
environment for later invocations until it has been idle for
LAMBDA_KEEPALIVE_MS, as Lambda does; so this keeps one bootstrap process per
executor. What Lambda does around a process, this does too: the Runtime API
with the invocation's deadline, the function's timeout (the process is killed
and the invocation fails with Sandbox.Timedout), its memory size (killed when
its RSS goes past it), a process that died mid-invocation (Runtime.ExitError,
a fresh process next time), START/END/REPORT lines, and the logs streamed to
the function's log group. A binary rewritten on disk (cargo build, with
LocalStack's hot-reload code location) is picked up by the next invocation.
"""

from __future__ import annotations

import json
import logging
import os
import platform
import threading
import time
from datetime import date
from pathlib import Path

from localstack.services.lambda_.invocation.lambda_models import FunctionVersion, InvocationResult
from localstack.services.lambda_.invocation.runtime_executor import LambdaRuntimeException, RuntimeExecutor

from .logs import CloudWatchSink, LogSink
from .process import BootstrapProcess, binary_identity, rss_kb
from .runtime_api import Invocation

LOG = logging.getLogger(__name__)

# Executors alive now, for the process listing route and the tests.
REGISTRY: dict[str, "HostRuntimeExecutor"] = {}
_REGISTRY_LOCK = threading.Lock()

# ELF e_machine of the host, to refuse a binary built for another architecture.
_ELF_MACHINES = {62: "x86_64", 183: "aarch64"}
_HOST_MACHINE = {"amd64": "x86_64", "arm64": "aarch64"}.get(platform.machine().lower(), platform.machine().lower())


def pid_dir() -> Path | None:
    value = os.environ.get("HOST_EXECUTOR_PID_DIR", "")
    return Path(value) if value else None


def init_timeout() -> float:
    return float(os.environ.get("LAMBDA_RUNTIME_ENVIRONMENT_TIMEOUT") or 20)


def elf_machine(path: Path) -> str | None:
    """The architecture an ELF binary was built for; None if it is not ELF
    (a script with a #! line runs anywhere)."""
    with path.open("rb") as f:
        header = f.read(20)
    if header[:4] != b"\x7fELF":
        return None
    little = header[5] == 1
    machine = int.from_bytes(header[18:20], "little" if little else "big")
    return _ELF_MACHINES.get(machine, f"machine {machine}")


def bootstrap_of(function_version: FunctionVersion) -> Path:
    code = function_version.config.code
    if code is None:
        raise LambdaRuntimeException("image functions are not supported by the host executor")
    return Path(code.get_unzipped_code_location()) / "bootstrap"


class HostRuntimeExecutor(RuntimeExecutor):
    def __init__(self, id: str, function_version: FunctionVersion, sink: LogSink | None = None) -> None:
        super().__init__(id=id, function_version=function_version)
        self._env: dict[str, str] = {}
        self._process: BootstrapProcess | None = None
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._sink = sink
        self.invocations = 0
        self.last_report: dict[str, float] = {}
        with _REGISTRY_LOCK:
            REGISTRY[id] = self

    # -- what LocalStack calls --

    def start(self, env_vars: dict[str, str]) -> None:
        self._env = self._process_env(env_vars)
        if self._sink is None:
            cfg = self.function_version.config
            group = (cfg.logging_config or {}).get("LogGroup") or f"/aws/lambda/{self.function_version.id.function_name}"
            stream = f"{date.today():%Y/%m/%d}/[{self.function_version.id.qualifier}]{self.id}"
            self._sink = CloudWatchSink(group, stream, self.function_version.id.region)
        with self._lock:
            error = self._spawn()
        if error is not None:
            raise LambdaRuntimeException(f"the bootstrap of {self.function_name} failed to start: {error}")

    def stop(self) -> None:
        self._stopping.set()
        with self._lock:
            if self._process is not None:
                self._process.kill(grace=0.5)
                self._process = None
        if self._sink is not None:
            self._sink.close()
        with _REGISTRY_LOCK:
            REGISTRY.pop(self.id, None)

    def get_address(self) -> str:
        return "127.0.0.1"

    def get_endpoint_from_executor(self) -> str:
        # The functions are host processes: LocalStack is on loopback.
        return "127.0.0.1"

    def get_runtime_endpoint(self) -> str:
        from localstack import config

        return f"http://127.0.0.1:{config.GATEWAY_LISTEN[0].port}/_localstack_lambda/{self.id}"

    def invoke(self, payload: dict[str, str]) -> InvocationResult:
        request_id = payload["invoke-id"]
        timeout_s = float(self.function_version.config.timeout)
        memory_mb = int(self.function_version.config.memory_size)
        with self._lock:
            # A dead process (killed, crashed, timed out) or a rebuilt binary:
            # a fresh process, as Lambda gives a fresh runtime after a failure.
            process = self._process
            if process is None or not process.alive() or self._binary_changed(process):
                if process is not None:
                    process.kill()
                    self._process = None
                error = self._spawn()
                if error is not None:
                    return self._error_result(request_id, "Runtime.InitError", error, "")
            process = self._process
            assert process is not None
            self.invocations += 1
        # Not under the lock: stop() must be able to end a running invocation.
        return self._invoke_on(process, request_id, payload, timeout_s, memory_mb)

    def get_logs(self) -> str:
        process = self._process
        return "\n".join(process.recent) if process is not None else ""

    @classmethod
    def prepare_version(cls, function_version: FunctionVersion) -> None:
        runtime = function_version.config.runtime or ""
        if not runtime.startswith("provided"):
            raise LambdaRuntimeException(
                f"the host executor runs provided.* runtimes (a bootstrap binary), not {runtime!r}"
            )
        code = function_version.config.code
        if code is not None:
            code.prepare_for_execution()
        bootstrap = bootstrap_of(function_version)
        if not bootstrap.exists():
            raise LambdaRuntimeException(f"{bootstrap} does not exist: the code has no bootstrap at its root")
        machine = elf_machine(bootstrap.resolve())
        if machine is not None and machine != _HOST_MACHINE:
            raise LambdaRuntimeException(
                f"{bootstrap} is built for {machine} but this host is {_HOST_MACHINE}: "
                "deploy the host's own build locally (Architectures x86_64), arm64 builds are for AWS"
            )
        if not os.access(bootstrap, os.X_OK):
            bootstrap.chmod(bootstrap.stat().st_mode | 0o111)

    @classmethod
    def cleanup_version(cls, function_version: FunctionVersion) -> None:
        pass

    # -- the process --

    @property
    def function_name(self) -> str:
        return self.function_version.id.function_name

    @property
    def pid(self) -> int | None:
        process = self._process
        return process.pid if process is not None and process.alive() else None

    def _process_env(self, env_vars: dict[str, str]) -> dict[str, str]:
        env = {k: str(v) for k, v in env_vars.items()}
        root = str(bootstrap_of(self.function_version).parent)
        env["LAMBDA_TASK_ROOT"] = root
        env["LAMBDA_RUNTIME_DIR"] = root
        env.setdefault("PATH", "/usr/local/bin:/usr/bin:/bin")
        env.setdefault("LANG", "C.UTF-8")
        return env

    def _binary_changed(self, process: BootstrapProcess) -> bool:
        try:
            return binary_identity(process.bootstrap) != process.identity
        except OSError:
            return False

    def _spawn(self) -> str | None:
        """Starts the bootstrap and waits for its first request for work;
        an error message if it did not get there."""
        assert self._sink is not None
        directory = pid_dir()
        pid_file = directory / f"{self.function_name}.{self.id}.pid" if directory else None
        try:
            process = BootstrapProcess(bootstrap_of(self.function_version), self._env, self._sink.add, pid_file)
        except OSError as e:
            return f"cannot start {bootstrap_of(self.function_version)}: {e}"
        error = process.wait_ready(init_timeout(), self._stopping)
        if error is not None:
            process.kill()
            LOG.warning("bootstrap of %s failed to start: %s", self.function_name, error)
            return error
        self._process = process
        LOG.debug("bootstrap of %s started: pid %d", self.function_name, process.pid)
        return None

    def _invoke_on(
        self, process: BootstrapProcess, request_id: str, payload: dict, timeout_s: float, memory_mb: int
    ) -> InvocationResult:
        qualifier = self.function_version.id.qualifier
        process.begin_capture()
        process.add_line(f"START RequestId: {request_id} Version: {qualifier}")
        started = time.monotonic()
        deadline_ms = int((time.time() + timeout_s) * 1000)
        invocation = Invocation(
            request_id=request_id,
            payload=(payload.get("payload") or "").encode(),
            deadline_ms=deadline_ms,
            function_arn=payload.get("invoked-function-arn", ""),
            trace_id=payload.get("trace-id", ""),
        )
        process.api.submit(invocation)
        peak_kb = 0
        outcome: tuple[bool, bytes] | None = None
        failure: tuple[str, str] | None = None
        while outcome is None and failure is None:
            try:
                outcome = invocation.result.result(timeout=0.05)
                break
            except TimeoutError:
                pass
            except Exception as e:  # the Runtime API closed under it
                failure = ("Runtime.ExitError", f"{process.exit_info().describe()} ({e})")
                break
            peak_kb = max(peak_kb, rss_kb(process.pid))
            if not process.alive():
                failure = ("Runtime.ExitError", process.exit_info().describe())
            elif time.monotonic() - started >= timeout_s:
                process.kill()
                failure = ("Sandbox.Timedout", f"Task timed out after {timeout_s:.2f} seconds")
            elif peak_kb > memory_mb * 1024:
                process.kill()
                failure = ("Runtime.OutOfMemory", "Runtime exited with error: signal: killed (out of memory)")
        elapsed_ms = (time.monotonic() - started) * 1000
        peak_kb = max(peak_kb, rss_kb(process.pid, "VmHWM"))
        process.catch_up()
        if failure is not None:
            process.add_line(f"{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())} {request_id} {failure[1]}")
        process.add_line(f"END RequestId: {request_id}")
        process.add_line(
            f"REPORT RequestId: {request_id}\tDuration: {elapsed_ms:.2f} ms\t"
            f"Billed Duration: {int(elapsed_ms) + 1} ms\tMemory Size: {memory_mb} MB\t"
            f"Max Memory Used: {peak_kb // 1024} MB"
        )
        self.last_report = {"duration_ms": elapsed_ms, "max_memory_mb": peak_kb / 1024}
        logs = process.end_capture()
        if failure is not None:
            if not process.alive():
                process.kill()
                self._process = None
            return self._error_result(request_id, failure[0], failure[1], logs)
        assert outcome is not None
        is_error, body = outcome
        return InvocationResult(request_id=request_id, payload=body, is_error=is_error, logs=logs)

    @staticmethod
    def _error_result(request_id: str, error_type: str, message: str, logs: str) -> InvocationResult:
        body = json.dumps({"errorType": error_type, "errorMessage": f"RequestId: {request_id} Error: {message}"})
        return InvocationResult(request_id=request_id, payload=body.encode(), is_error=True, logs=logs)

    def describe(self) -> dict:
        """This environment, for the process listing."""
        process = self._process
        return {
            "function_name": self.function_name,
            "function_arn": self.function_version.qualified_arn,
            "environment_id": self.id,
            "pid": self.pid,
            "started_at": process.started_at if process is not None else None,
            "invocations": self.invocations,
            "bootstrap": str(bootstrap_of(self.function_version)),
            "last_report": self.last_report,
        }
