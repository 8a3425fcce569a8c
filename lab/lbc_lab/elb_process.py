"""Running the lab ELBv2/EC2 server as a child process, and the child's own entry point.

Tests, the demo and benchmarks run the lab in its own process: moto keeps its state in module
globals (a second copy in the test process would interfere), and the server's request handling
then runs beside the client's event loop instead of competing with it for one interpreter lock.

Protocol with the child: it prints exactly one JSON line on stdout once it accepts connections,
``{"endpoint_url": "http://127.0.0.1:<port>", "pid": <pid>}``, and nothing more on stdout. With
``--stop-on-stdin-eof`` it also exits when its stdin closes, so a parent that dies (even by
SIGKILL) never leaves a lab server behind.
"""

from __future__ import annotations

import argparse
import json
import os
import selectors
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Any, NoReturn

from lbc_lab.elb_control import LabElbControl

READY_TIMEOUT = 60.0


def serve(argv: Sequence[str]) -> NoReturn:
    """``python -m lbc lab elb``: serve in the foreground until SIGTERM, SIGINT or stdin EOF.

    Exits the process with status 0 once stopped (or 2 on bad arguments); never returns.
    """
    parser = argparse.ArgumentParser(
        prog="lbc lab elb", description="ELBv2 + EC2 emulator (moto with lbc's fidelity layer)"
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="port (default 0: a free port)")
    parser.add_argument(
        "--time-factor",
        type=float,
        default=1.0,
        help="scale of emulated delays: 1 is realistic, 0.01 makes them 100x shorter",
    )
    parser.add_argument(
        "--stop-on-stdin-eof", action="store_true", help="exit when stdin closes (for parents)"
    )
    args = parser.parse_args(list(argv))
    if args.time_factor <= 0:
        parser.error("--time-factor must be > 0")

    # Imported here: moto takes a second to import, and `--help` should not wait for it.
    from lbc_lab.elb_server import LabElbServer  # noqa: PLC0415  # deferred: see above

    stop = threading.Event()

    def on_signal(signum: int, _frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    if args.stop_on_stdin_eof:
        threading.Thread(target=_watch_stdin, args=(stop,), name="stdin-eof", daemon=True).start()

    server = LabElbServer(args.host, args.port, time_factor=args.time_factor).start()
    print(json.dumps({"endpoint_url": server.endpoint_url, "pid": os.getpid()}), flush=True)
    print(f"lab elb: serving EC2 + ELBv2 on {server.endpoint_url}", file=sys.stderr, flush=True)
    try:
        while not stop.wait(0.1):
            pass
    finally:
        server.stop()
    # moto's in-memory state takes about a second to tear down at interpreter exit, paid by every
    # test session and demo run; once the server has stopped, nothing here needs that teardown.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def _watch_stdin(stop: threading.Event) -> None:
    while os.read(sys.stdin.fileno(), 4096):
        pass
    stop.set()


class LabElbProcess:
    """A lab server in a child process; a context manager that always stops it.

    ``log_path`` receives the child's stderr (tracebacks of a crashing lab end up there).
    """

    def __init__(self, *, time_factor: float = 1.0, log_path: Path | None = None) -> None:
        self._time_factor = time_factor
        self._log_path = log_path
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self.endpoint_url = ""

    @property
    def control(self) -> LabElbControl:
        return LabElbControl(self.endpoint_url)

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def start(self, timeout: float = READY_TIMEOUT) -> LabElbProcess:
        command = [
            sys.executable,
            "-m",
            "lbc",
            "lab",
            "elb",
            "--port",
            "0",
            "--time-factor",
            str(self._time_factor),
            "--stop-on-stdin-eof",
        ]
        stderr: Any = subprocess.DEVNULL
        if self._log_path is not None:
            self._log = self._log_path.open("ab")
            stderr = self._log
        self._proc = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr
        )
        try:
            self.endpoint_url = self._read_ready(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def _read_ready(self, timeout: float) -> str:
        if self._proc is None or self._proc.stdout is None:
            raise RuntimeError("lab elb process not started")
        deadline = time.monotonic() + timeout
        line = b""
        with selectors.DefaultSelector() as selector:
            selector.register(self._proc.stdout, selectors.EVENT_READ)
            while not line.endswith(b"\n"):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"lab elb did not start within {timeout:.0f}s")
                if not selector.select(remaining):
                    continue
                chunk = os.read(self._proc.stdout.fileno(), 4096)
                if not chunk:
                    raise RuntimeError(
                        f"lab elb exited during start-up (code {self._proc.poll()});"
                        f" see {self._log_path or 'its stderr'}"
                    )
                line += chunk
        return str(json.loads(line)["endpoint_url"])

    def stop(self, timeout: float = 10.0) -> None:
        proc, self._proc = self._proc, None
        if proc is not None:
            if proc.stdin is not None:
                proc.stdin.close()
            if proc.poll() is None:
                proc.terminate()
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout)
            if proc.stdout is not None:
                proc.stdout.close()
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> LabElbProcess:
        return self.start() if self._proc is None else self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
