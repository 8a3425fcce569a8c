"""The lab API server as a child process, for the demo and end-to-end tests.

A daemon under test should talk to an API server in another process, as it would in a cluster
(and the server's work then does not compete with the test's event loop). The child is started
with ``--stop-on-stdin-eof``: it goes away with its parent even if the parent is killed.

Usage::

    with LabApiServerProcess(kubeconfig_path=tmp / "kubeconfig") as api:
        api.url, api.kubeconfig_path    # hand these to the daemon
        LabApiControl(api.url)           # faults over /_lab
"""

from __future__ import annotations

import json
import os
import selectors
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType

READY_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0


class LabApiServerProcess:
    def __init__(
        self,
        *,
        kubeconfig_path: Path,
        port: int = 0,
        bookmark_interval: float = 1.0,
        rbac: bool = False,
    ) -> None:
        self.kubeconfig_path = Path(kubeconfig_path)
        self._argv = [
            sys.executable, "-m", "lbc", "lab", "apiserver",
            "--kubeconfig", str(self.kubeconfig_path),
            "--port", str(port),
            "--bookmark-interval", str(bookmark_interval),
            "--stop-on-stdin-eof",
            *(["--rbac"] if rbac else []),
        ]  # fmt: skip
        self._process: subprocess.Popen[bytes] | None = None
        self.url = ""
        self.pid = 0

    def start(self) -> LabApiServerProcess:
        """Start the child and wait (at most ``READY_TIMEOUT``) until it serves."""
        process = subprocess.Popen(
            self._argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=os.environ.copy()
        )
        self._process = process
        assert process.stdout is not None  # noqa: S101 - Popen with stdout=PIPE sets it
        deadline = time.monotonic() + READY_TIMEOUT
        with selectors.DefaultSelector() as sel:
            sel.register(process.stdout, selectors.EVENT_READ)
            while not sel.select(timeout=max(0.0, deadline - time.monotonic())):
                if time.monotonic() >= deadline or process.poll() is not None:
                    self.stop()
                    raise RuntimeError("the lab apiserver did not start in time")
        line = process.stdout.readline()
        if not line:
            self.stop()
            raise RuntimeError(f"the lab apiserver exited with {process.wait()}")
        ready = json.loads(line)
        self.url, self.pid = ready["url"], int(ready["pid"])
        return self

    def stop(self) -> int | None:
        """SIGTERM, then SIGKILL after ``STOP_TIMEOUT``; returns the exit status."""
        process, self._process = self._process, None
        if process is None:
            return None
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        for pipe in (process.stdin, process.stdout):
            if pipe is not None:
                pipe.close()
        return process.returncode

    def __enter__(self) -> LabApiServerProcess:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
