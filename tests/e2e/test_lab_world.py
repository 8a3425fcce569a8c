"""``python -m lbc lab world`` never leaves a process behind, however it is stopped.

The README walkthrough test covers the normal life (start, use, Ctrl-C). These cover the
edges: Ctrl-C or a closed terminal (SIGHUP) while the world is still starting, a child
process that dies under it (the world then stops the rest and exits 1 instead of serving a
half world), a second world on the same folder (refused), and the world killed outright (the
kernel stops its children).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.e2e.conftest import wait_blocking, wait_exited

pytestmark = pytest.mark.timeout(300)


def processes_mentioning(text: str) -> list[int]:
    """Live processes whose command line mentions ``text`` (this test's own folder)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            state = (entry / "status").read_text()
        except OSError:
            continue
        if text in cmdline and "zombie" not in state:
            found.append(int(entry.name))
    return found


def start_world(folder: Path, *args: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LBC_", "KUBECONFIG"))}
    return subprocess.Popen(
        [sys.executable, "-m", "lbc", "lab", "world", "--dir", str(folder), *args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )


def wait_until(
    condition: Callable[[], bool], proc: subprocess.Popen[str], timeout: float, what: str
) -> None:
    def probe() -> bool:
        assert proc.poll() is None, f"the world exited early: {proc.communicate()[0]}"
        return condition()

    wait_blocking(probe, timeout=timeout, what=what)


def gone_within(folder: Path, timeout: float) -> list[int]:
    """The processes still mentioning ``folder`` once none does, or ``timeout`` passed."""
    with contextlib.suppress(TimeoutError):
        wait_blocking(
            lambda: not processes_mentioning(str(folder)), timeout=timeout, what="no process left"
        )
    return processes_mentioning(str(folder))


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGHUP], ids=["ctrl-c", "terminal-closed"])
def test_a_signal_while_the_world_starts_stops_what_it_started(
    tmp_path: Path, sig: signal.Signals
) -> None:
    folder = tmp_path / "world"
    proc = start_world(folder)
    try:
        wait_until((folder / "apiserver-a.log").exists, proc, 120, "no API server started")
        proc.send_signal(sig)
        out, _ = proc.communicate(timeout=60)
        assert proc.returncode == 130, out
        assert "interrupted while starting" in out
        assert gone_within(folder, 15) == []
        assert not (folder / "env.sh").exists()
    finally:
        if proc.poll() is None:
            proc.kill()
        for pid in processes_mentioning(str(folder)):
            os.kill(pid, signal.SIGKILL)


def test_a_world_whose_child_dies_stops_the_rest_and_exits_1_and_owns_its_folder(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "world"
    proc = start_world(folder, "--clusters", "1")
    try:
        wait_until((folder / "world.json").exists, proc, 120, "the world never started")
        facts = json.loads((folder / "world.json").read_text())
        assert list(facts["clusters"]) == ["a"]
        assert len(facts["clusters"]["a"]["nodes"]) == 3
        assert set(facts["pids"]) == {"elb", "apiserver-a"}
        assert facts["pid"] == proc.pid

        second = start_world(folder, "--clusters", "1")
        out2, _ = second.communicate(timeout=60)
        assert second.returncode == 2, out2
        assert f"a lab world (pid {proc.pid}) already serves from" in out2
        assert (folder / "world.json").exists(), "the refused world cleared the running one's files"

        os.kill(facts["pids"]["apiserver-a"], signal.SIGKILL)
        out, _ = proc.communicate(timeout=60)
        assert proc.returncode == 1, out
        assert "apiserver-a exited" in out
        assert gone_within(folder, 15) == []
        assert not (folder / "world.json").exists()
    finally:
        if proc.poll() is None:
            proc.kill()
        for pid in processes_mentioning(str(folder)):
            os.kill(pid, signal.SIGKILL)


def test_a_killed_world_takes_its_children_with_it(tmp_path: Path) -> None:
    folder = tmp_path / "world"
    proc = start_world(folder, "--clusters", "1")
    try:
        wait_until((folder / "world.json").exists, proc, 120, "the world never started")
        children = json.loads((folder / "world.json").read_text())["pids"].values()
        proc.kill()
        proc.communicate(timeout=30)
        assert gone_within(folder, 30) == []
        # The kernel signals the orphans; init reaps them, maybe late.
        wait_exited(children, timeout=30, what="the killed world's children")
    finally:
        if proc.poll() is None:
            proc.kill()
        for pid in processes_mentioning(str(folder)):
            os.kill(pid, signal.SIGKILL)
