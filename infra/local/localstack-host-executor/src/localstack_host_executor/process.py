"""One bootstrap process: started with its own Runtime API, its output
collected line by line, its memory watched, stopped for good."""

from __future__ import annotations

import collections
import concurrent.futures
import ctypes
import os
import select
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .runtime_api import RuntimeApi

# Lines kept for LocalStack's get_logs() (shown when an environment fails).
RECENT_LINES = 2000
# Lines kept per invocation for its InvocationResult (the rest still streams).
INVOCATION_LINES = 10_000

_PR_SET_PDEATHSIG = 1
# The one thread that forks bootstraps (see _die_with_localstack).
_SPAWNER = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="bootstrap-spawner")


def _die_with_localstack() -> None:
    """Runs in the child before exec: the kernel kills the bootstrap when
    LocalStack dies, so a crashed LocalStack leaves no function behind.
    The signal follows the *thread* that forked, so every process is forked
    by the one spawner thread below, which lives as long as LocalStack."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except OSError:
        pass


def binary_identity(path: Path) -> tuple[int, int, int]:
    """What changes when cargo rewrites the binary (hot reloading)."""
    st = path.resolve().stat()
    return (st.st_ino, st.st_mtime_ns, st.st_size)


def rss_kb(pid: int, field: str = "VmRSS") -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


@dataclass
class ExitInfo:
    returncode: int | None

    def describe(self) -> str:
        code = self.returncode
        if code is None:
            return "Runtime exited without providing a reason"
        if code < 0:
            try:
                name = signal.Signals(-code).name.removeprefix("SIG").lower()
            except ValueError:
                name = str(-code)
            names = {"kill": "killed", "term": "terminated", "segv": "segmentation fault", "abrt": "aborted"}
            return f"Runtime exited with error: signal: {names.get(name, name)}"
        return f"Runtime exited with error: exit status {code}"


class BootstrapProcess:
    def __init__(
        self,
        bootstrap: Path,
        env: dict[str, str],
        on_line: Callable[[str], None],
        pid_file: Path | None = None,
    ) -> None:
        self.bootstrap = bootstrap
        self.identity = binary_identity(bootstrap)
        self.api = RuntimeApi()
        self.api.start()
        self._on_line = on_line
        self._pid_file = pid_file
        self.recent: collections.deque[str] = collections.deque(maxlen=RECENT_LINES)
        self._capture: list[str] | None = None
        self._capture_lock = threading.Lock()
        # catch_up's wake-ups of the reader (a pipe it polls beside the
        # output) and how many it has answered; `None` once the output ended.
        self._wake_read, self._wake_write = os.pipe()
        self._wakes_sent = 0
        self._wakes_answered: int | None = 0
        self._caught_up = threading.Condition()
        self.started_at = time.time()
        full_env = dict(env)
        full_env["AWS_LAMBDA_RUNTIME_API"] = self.api.address
        try:
            self.popen = _SPAWNER.submit(
                subprocess.Popen,
                [str(bootstrap)],
                cwd=str(bootstrap.parent),
                env=full_env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                # Its own process group: a test's kill(2) reaches just this function.
                start_new_session=True,
                preexec_fn=_die_with_localstack,
            ).result()
            self.pid = self.popen.pid
            if pid_file is not None:
                pid_file.parent.mkdir(parents=True, exist_ok=True)
                pid_file.write_text(f"{self.pid}\n")
        except BaseException:
            # No reader will own them: a function that cannot start (or whose
            # pid cannot be recorded) leaks neither its process, the wake-up
            # pipe nor its Runtime API's socket.
            if getattr(self, "popen", None) is not None:
                self.popen.kill()
                self.popen.wait()
                self.popen.stdout.close()
            os.close(self._wake_read)
            os.close(self._wake_write)
            self.api.stop()
            raise
        self._reader = threading.Thread(target=self._read_output, name=f"bootstrap-{self.pid}-out", daemon=True)
        self._reader.start()

    def _read_output(self) -> None:
        """Reads the output as it comes and answers catch_up's wake-ups, each
        only once the output pipe is empty: then every line written before the
        wake-up has been through add_line."""
        assert self.popen.stdout is not None
        out = self.popen.stdout.fileno()
        # poll, not select: LocalStack holds many descriptors, and select
        # refuses any numbered above 1023.
        both, output_only = select.poll(), select.poll()
        both.register(out, select.POLLIN)
        both.register(self._wake_read, select.POLLIN)
        output_only.register(out, select.POLLIN)
        partial = b""
        woken = 0
        try:
            while True:
                ready = {fd for fd, _ in both.poll()}
                if out in ready:
                    data = os.read(out, 65536)
                    if not data:
                        break
                    *lines, partial = (partial + data).split(b"\n")
                    for raw in lines:
                        self.add_line(raw.decode("utf-8", errors="replace"))
                if self._wake_read in ready:
                    woken += len(os.read(self._wake_read, 4096))
                # Checked after the wake-up was read: output written before it
                # would show here.
                if woken and not output_only.poll(0):
                    with self._caught_up:
                        self._wakes_answered = (self._wakes_answered or 0) + woken
                        self._caught_up.notify_all()
                    woken = 0
        finally:
            if partial:
                self.add_line(partial.decode("utf-8", errors="replace"))
            with self._caught_up:
                self._wakes_answered = None
                self._caught_up.notify_all()
                os.close(self._wake_write)
            os.close(self._wake_read)
            self.popen.stdout.close()

    def catch_up(self, timeout: float = 2.0) -> None:
        """Waits until every line the process wrote before now went through
        add_line. On Lambda a function's output before its response comes
        before END and REPORT; here a reader thread slowed by a busy machine
        could still hold it when the response arrives. A process that never
        stops writing is waited for `timeout` at most."""
        with self._caught_up:
            if self._wakes_answered is None:
                return
            self._wakes_sent += 1
            wanted = self._wakes_sent
            os.write(self._wake_write, b"w")
            self._caught_up.wait_for(
                lambda: self._wakes_answered is None or self._wakes_answered >= wanted, timeout=timeout
            )

    def add_line(self, line: str) -> None:
        """A line of the function's output (or a platform line of ours)."""
        self.recent.append(line)
        with self._capture_lock:
            if self._capture is not None and len(self._capture) < INVOCATION_LINES:
                self._capture.append(line)
        self._on_line(line)

    def begin_capture(self) -> None:
        with self._capture_lock:
            self._capture = []

    def end_capture(self) -> str:
        with self._capture_lock:
            lines, self._capture = self._capture or [], None
        return "\n".join(lines) + ("\n" if lines else "")

    def alive(self) -> bool:
        return self.popen.poll() is None

    def exit_info(self) -> ExitInfo:
        return ExitInfo(self.popen.poll())

    def wait_ready(self, timeout: float, stopping: threading.Event) -> str | None:
        """None once the runtime asks for work; else why it did not."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.api.ready.is_set():
                return None
            if self.api.init_failed.is_set():
                return (self.api.init_error or b"init error").decode("utf-8", "replace")
            if not self.alive():
                return self.exit_info().describe()
            if stopping.is_set():
                return "the environment was stopped during init"
            time.sleep(0.01)
        return f"the runtime did not ask for work within {timeout:.0f} s"

    def kill(self, grace: float = 0.0) -> None:
        """Stops the process (SIGTERM, then SIGKILL after `grace`), its
        Runtime API and its PID file."""
        if self.alive():
            try:
                if grace > 0:
                    os.killpg(self.pid, signal.SIGTERM)
                    try:
                        self.popen.wait(timeout=grace)
                    except subprocess.TimeoutExpired:
                        pass
                if self.alive():
                    os.killpg(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            try:
                self.popen.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
        self.api.stop()
        self._reader.join(timeout=2)
        if self._pid_file is not None:
            try:
                self._pid_file.unlink()
            except FileNotFoundError:
                pass
