"""Child processes of a lab scenario: emulators and lbc daemons, each stopped by its owner.

The demo and the end-to-end tests run every part as a real process, the way an operator would:
``python -m lbc lab apiserver``, ``python -m lbc lab elb`` and ``python -m lbc run``. A
:class:`ProcessGroup` starts them on free 127.0.0.1 ports, waits until each one answers, and on
exit stops them all (SIGTERM, then SIGKILL after a grace period), so nothing outlives a test even
when it fails, and the children get SIGTERM from the kernel if the parent itself is killed
(``PR_SET_PDEATHSIG``). Daemons can also be killed on purpose (``kill()``) to test crash safety.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import signal
import socket
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

import aiohttp


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def wait_http(url: str, *, timeout: float = 30.0, proc: LabProcess | None = None) -> None:
    """Wait until ``url`` answers any HTTP status (the server is up), or fail with its log."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as session:
        while True:
            if proc is not None and proc.returncode is not None:
                raise RuntimeError(f"{proc.name} exited with {proc.returncode}:\n{proc.tail()}")
            with contextlib.suppress(aiohttp.ClientError, OSError, asyncio.TimeoutError):
                async with session.get(url) as resp:
                    await resp.read()
                    return
            if loop.time() > deadline:
                tail = proc.tail() if proc is not None else ""
                raise TimeoutError(f"{url} did not answer within {timeout:g}s\n{tail}")
            await asyncio.sleep(0.05)


_PR_SET_PDEATHSIG = 1
# Loaded in the parent: the child, between fork and exec, only makes the call.
_LIBC = ctypes.CDLL(None, use_errno=True) if sys.platform.startswith("linux") else None


def _die_with_parent() -> None:
    """In the child, before exec: SIGTERM when the parent dies, even by SIGKILL (Linux).

    The children run in their own sessions (so a terminal's Ctrl-C reaches only the parent,
    which stops them in order); this makes sure a parent that is killed outright does not
    leave them running. The kernel signals when the thread that started the child ends, so
    children are started from the event loop's thread, which lives as long as the parent.
    Elsewhere than Linux it does nothing.
    """
    if _LIBC is not None:
        _LIBC.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)


@dataclass
class LabProcess:
    """One child process with its log file."""

    name: str
    argv: list[str]
    env: dict[str, str]
    log_path: Path
    proc: asyncio.subprocess.Process | None = None
    extra: dict[str, object] = field(default_factory=dict)

    async def start(self) -> None:
        log = self.log_path.open("ab")
        try:
            self.proc = await asyncio.create_subprocess_exec(
                *self.argv,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log,
                stderr=asyncio.subprocess.STDOUT,
                env=self.env,
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )
        finally:
            log.close()

    @property
    def returncode(self) -> int | None:
        return None if self.proc is None else self.proc.returncode

    @property
    def pid(self) -> int | None:
        return None if self.proc is None else self.proc.pid

    def tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def kill(self) -> None:
        """SIGKILL: the process gets no chance to clean up (crash tests)."""
        if self.proc is not None and self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.kill()

    def terminate(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(signal.SIGTERM)

    async def wait(self, timeout: float) -> int:
        if self.proc is None:
            raise RuntimeError(f"{self.name} was never started")
        return await asyncio.wait_for(self.proc.wait(), timeout)

    async def stop(self, grace: float = 10.0) -> int | None:
        """SIGTERM, then SIGKILL after ``grace`` seconds; returns the exit code."""
        if self.proc is None:
            return None
        if self.proc.returncode is None:
            self.terminate()
            try:
                await asyncio.wait_for(self.proc.wait(), grace)
            except TimeoutError:
                self.kill()
                await self.proc.wait()
        return self.proc.returncode


class ProcessGroup:
    """Starts lab processes and guarantees they are all stopped when the block ends."""

    def __init__(self, workdir: Path | None = None) -> None:
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        if workdir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="lbc-lab-")
            workdir = Path(self._tmp.name)
        self.workdir = workdir
        self.processes: list[LabProcess] = []

    async def __aenter__(self) -> ProcessGroup:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await asyncio.gather(*(p.stop(grace=5.0) for p in reversed(self.processes)))
        if self._tmp is not None:
            self._tmp.cleanup()

    def _env(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("LBC_")}
        env.pop("KUBECONFIG", None)
        env.setdefault("PYTHONUNBUFFERED", "1")
        env.update(extra or {})
        return env

    async def spawn(
        self, name: str, args: list[str], env: Mapping[str, str] | None = None
    ) -> LabProcess:
        proc = LabProcess(
            name=name,
            argv=[sys.executable, "-m", "lbc", *args],
            env=self._env(env),
            log_path=self.workdir / f"{name}.log",
        )
        self.processes.append(proc)
        await proc.start()
        return proc

    async def apiserver(self, name: str) -> tuple[LabProcess, str, Path]:
        """A lab API server process: ``(process, base url, kubeconfig path)``."""
        port = free_port()
        kubeconfig = self.workdir / f"{name}.kubeconfig"
        proc = await self.spawn(
            name, ["lab", "apiserver", "--port", str(port), "--kubeconfig", str(kubeconfig)]
        )
        url = f"http://127.0.0.1:{port}"
        await wait_http(f"{url}/version", proc=proc)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 10
        while not kubeconfig.exists():
            if loop.time() > deadline:
                raise TimeoutError(f"{name} wrote no kubeconfig\n{proc.tail()}")
            await asyncio.sleep(0.05)
        return proc, url, kubeconfig

    async def elb(self, name: str = "elb", args: list[str] | None = None) -> tuple[LabProcess, str]:
        """A lab ELBv2/EC2 process: ``(process, endpoint url)``."""
        port = free_port()
        proc = await self.spawn(name, ["lab", "elb", "--port", str(port), *(args or [])])
        url = f"http://127.0.0.1:{port}"
        await wait_http(url, proc=proc)
        return proc, url

    async def daemon(
        self,
        name: str,
        *,
        kubeconfig: Path,
        aws_endpoint: str,
        env: Mapping[str, str] | None = None,
    ) -> LabProcess:
        """An lbc daemon (``python -m lbc run``) against a lab cluster and the lab ELBv2."""
        probe, metrics = free_port(), free_port()
        settings = {
            "LBC_KUBECONFIG": str(kubeconfig),
            "LBC_AWS_ENDPOINT_URL": aws_endpoint,
            "LBC_AWS_REGION": "us-east-1",
            "AWS_ACCESS_KEY_ID": "lab",
            "AWS_SECRET_ACCESS_KEY": "lab",
            "LBC_PROBE_ADDR": f"127.0.0.1:{probe}",
            "LBC_METRICS_ADDR": f"127.0.0.1:{metrics}",
            "LBC_LOG_LEVEL": "debug",
            "POD_NAME": name,
            "POD_NAMESPACE": "kube-system",
            **dict(env or {}),
        }
        proc = await self.spawn(name, ["run"], settings)
        proc.extra.update(
            probe_url=f"http://127.0.0.1:{probe}", metrics_url=f"http://127.0.0.1:{metrics}"
        )
        return proc
