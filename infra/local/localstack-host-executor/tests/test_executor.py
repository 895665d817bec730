"""The executor against a real bootstrap process (a small Python runtime),
without LocalStack running: what Lambda does around a process."""

from __future__ import annotations

import json
import os
import shutil
import signal
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from localstack_host_executor.executor import HostRuntimeExecutor, elf_machine
from localstack_host_executor.logs import MemorySink
from localstack_host_executor.process import BootstrapProcess

FAKE = Path(__file__).with_name("fake_bootstrap.py")


class Code:
    def __init__(self, root: Path) -> None:
        self.root = root

    def get_unzipped_code_location(self) -> Path:
        return self.root

    def prepare_for_execution(self) -> None:
        pass


def function_version(root: Path, timeout: int = 5, memory: int = 256, runtime: str = "provided.al2023"):
    config = SimpleNamespace(
        code=Code(root), timeout=timeout, memory_size=memory, runtime=runtime, logging_config={}
    )
    fid = SimpleNamespace(function_name="fn", qualifier="$LATEST", region="us-east-1")
    return SimpleNamespace(config=config, id=fid, qualified_arn="arn:aws:lambda:us-east-1:000000000000:function:fn:$LATEST")


@pytest.fixture
def code_dir(tmp_path: Path) -> Path:
    shutil.copy(FAKE, tmp_path / "bootstrap")
    (tmp_path / "bootstrap").chmod(0o755)
    return tmp_path


class SlowSink(MemorySink):
    """A log sink that stalls on one line, as a reader thread on a busy
    machine does."""

    def __init__(self, stall_on: str) -> None:
        super().__init__()
        self.stall_on = stall_on

    def add(self, line: str) -> None:
        if line == self.stall_on:
            time.sleep(0.3)
        super().add(line)


def executor(
    code_dir: Path, env: dict | None = None, sink: MemorySink | None = None, **kw
) -> tuple[HostRuntimeExecutor, MemorySink]:
    sink = sink or MemorySink()
    ex = HostRuntimeExecutor("env1", function_version(code_dir, **kw), sink=sink)
    ex.start({"AWS_ENDPOINT_URL": "http://127.0.0.1:4566", **(env or {})})
    return ex, sink


def invoke(ex: HostRuntimeExecutor, event: dict, request_id: str = "req-1"):
    return ex.invoke({"invoke-id": request_id, "invoked-function-arn": "arn:fn", "payload": json.dumps(event)})


def test_output_written_before_the_response_is_the_invocations_and_comes_before_end(code_dir: Path) -> None:
    # The reader stalls on the first of three lines written just before the
    # response, so the response arrives while two are still in the pipe.
    ex, _ = executor(code_dir, sink=SlowSink(stall_on="line 0"))
    try:
        result = invoke(ex, {"action": "chatter", "lines": 3})
        assert not result.is_error, result.payload
        lines = result.logs.splitlines()
        assert [line for line in lines if line.startswith("line ")] == ["line 0", "line 1", "line 2"]
        assert lines.index("line 2") < lines.index("END RequestId: req-1")
    finally:
        ex.stop()


def test_an_invocation_gets_its_payload_deadline_and_environment(code_dir: Path) -> None:
    ex, sink = executor(code_dir, {"MY_SETTING": "42"}, timeout=7)
    try:
        before = time.time() * 1000
        result = invoke(ex, {"action": "echo", "n": 1})
        assert not result.is_error, result.payload
        body = json.loads(result.payload)
        assert body["event"] == {"action": "echo", "n": 1}
        assert body["env"] == {
            "LAMBDA_TASK_ROOT": str(code_dir),
            "AWS_ENDPOINT_URL": "http://127.0.0.1:4566",
            "MY_SETTING": "42",
        }
        assert before + 6_000 <= body["deadline_ms"] <= time.time() * 1000 + 7_000
        assert "START RequestId: req-1" in result.logs and "REPORT RequestId: req-1" in result.logs
        assert "handling echo" in result.logs
        assert "init done" in sink.lines, "output before the first invocation is kept too"
    finally:
        ex.stop()


def test_the_process_is_reused_across_invocations(code_dir: Path) -> None:
    ex, _ = executor(code_dir)
    try:
        pids = {json.loads(invoke(ex, {}, f"r{i}").payload)["pid"] for i in range(3)}
        assert len(pids) == 1
        assert ex.pid in pids
    finally:
        ex.stop()


def test_a_function_error_is_an_error_result(code_dir: Path) -> None:
    ex, _ = executor(code_dir)
    try:
        result = invoke(ex, {"action": "error"})
        assert result.is_error
        assert json.loads(result.payload)["errorType"] == "Boom"
        assert not invoke(ex, {}).is_error, "the same process goes on"
    finally:
        ex.stop()


def test_a_timeout_kills_the_process_and_the_next_invocation_gets_a_new_one(code_dir: Path) -> None:
    ex, _ = executor(code_dir, timeout=1)
    try:
        first = ex.pid
        started = time.monotonic()
        result = invoke(ex, {"action": "sleep", "seconds": 30})
        assert time.monotonic() - started < 3
        assert result.is_error
        assert json.loads(result.payload)["errorType"] == "Sandbox.Timedout"
        assert "Task timed out after 1.00 seconds" in result.logs
        with pytest.raises(ProcessLookupError):
            os.kill(first, 0)
        again = invoke(ex, {})
        assert not again.is_error
        assert json.loads(again.payload)["pid"] != first
    finally:
        ex.stop()


def test_a_process_killed_mid_invocation_fails_it_and_is_replaced(code_dir: Path) -> None:
    ex, _ = executor(code_dir)
    try:
        first = ex.pid
        threading.Timer(0.5, lambda: os.kill(first, signal.SIGKILL)).start()
        result = invoke(ex, {"action": "sleep", "seconds": 10})
        assert result.is_error
        body = json.loads(result.payload)
        assert body["errorType"] == "Runtime.ExitError"
        assert "signal: killed" in body["errorMessage"]
        assert json.loads(invoke(ex, {}).payload)["pid"] != first
        crashed = invoke(ex, {"action": "crash"})
        assert "exit status 7" in json.loads(crashed.payload)["errorMessage"]
    finally:
        ex.stop()


def test_memory_beyond_the_function_size_kills_it(code_dir: Path) -> None:
    ex, _ = executor(code_dir, memory=64)
    try:
        result = invoke(ex, {"action": "alloc", "mb": 200})
        assert result.is_error
        assert json.loads(result.payload)["errorType"] == "Runtime.OutOfMemory"
    finally:
        ex.stop()


def test_a_rebuilt_binary_is_picked_up_by_the_next_invocation(code_dir: Path) -> None:
    ex, _ = executor(code_dir)
    try:
        first = json.loads(invoke(ex, {}).payload)["pid"]
        fresh = code_dir / "bootstrap.new"
        shutil.copy(FAKE, fresh)
        fresh.chmod(0o755)
        fresh.replace(code_dir / "bootstrap")  # what a linker's write-and-rename does
        assert json.loads(invoke(ex, {}).payload)["pid"] != first
    finally:
        ex.stop()


def test_init_failures_are_reported(code_dir: Path) -> None:
    sink = MemorySink()
    ex = HostRuntimeExecutor("env2", function_version(code_dir), sink=sink)
    with pytest.raises(Exception, match="bad config"):
        ex.start({"FAKE_INIT": "error"})
    ex.stop()
    ex = HostRuntimeExecutor("env3", function_version(code_dir), sink=sink)
    with pytest.raises(Exception, match="exit status 3"):
        ex.start({"FAKE_INIT": "exit"})
    ex.stop()


def test_a_bootstrap_that_cannot_start_leaves_no_descriptor_open(code_dir: Path) -> None:
    (code_dir / "bootstrap").chmod(0o644)
    before = sorted(os.listdir("/proc/self/fd"))
    for _ in range(3):
        with pytest.raises(PermissionError):
            BootstrapProcess(code_dir / "bootstrap", {}, lambda line: None)
    assert sorted(os.listdir("/proc/self/fd")) == before
    # Started, but its pid file cannot be written (its folder is a file).
    (code_dir / "bootstrap").chmod(0o755)
    (code_dir / "not-a-folder").write_text("")
    with pytest.raises(OSError):
        BootstrapProcess(code_dir / "bootstrap", {}, lambda line: None, pid_file=code_dir / "not-a-folder" / "pid")
    assert sorted(os.listdir("/proc/self/fd")) == before


def test_stop_ends_the_process_and_a_running_invocation(code_dir: Path) -> None:
    ex, _ = executor(code_dir)
    pid = ex.pid
    threading.Timer(0.3, ex.stop).start()
    started = time.monotonic()
    result = invoke(ex, {"action": "sleep", "seconds": 20})
    assert result.is_error and time.monotonic() - started < 5
    time.sleep(0.2)
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_architecture_of_binaries(tmp_path: Path) -> None:
    assert elf_machine(FAKE) is None, "a script runs anywhere"
    assert elf_machine(Path("/bin/true")) in ("x86_64", "aarch64")
    header = bytearray(64)
    header[:4] = b"\x7fELF"
    header[5] = 1
    header[18:20] = (183).to_bytes(2, "little")
    arm = tmp_path / "arm"
    arm.write_bytes(bytes(header))
    assert elf_machine(arm) == "aarch64"


def test_only_provided_runtimes_are_accepted(code_dir: Path) -> None:
    with pytest.raises(Exception, match="provided"):
        HostRuntimeExecutor.prepare_version(function_version(code_dir, runtime="python3.12"))
    HostRuntimeExecutor.prepare_version(function_version(code_dir))
