"""The README's "Try it by hand" walkthrough works as written, command by command.

The test takes the fenced ``bash`` blocks of that README section, in order, and runs them as a
user would: commands marked ``# leave it running`` (the lab world, one daemon per cluster) are
started in the background, every other command runs in one shell whose exported variables carry
over from command to command, and each must exit 0. It then checks where the targets ended (both
clusters' targets registered and healthy, then only cluster b's and the hand-registered one left
after cluster a's node and Ingress went) and that Ctrl-C (SIGINT to each foreground process
group, as a terminal sends it) stops the daemons and the world with every child process gone.

It runs in a temporary folder holding a link to the repository's ``manifests/``, so its
``.lab-world/`` never meets one a developer has running in the checkout.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import running, wait_blocking, wait_exited

ROOT = Path(__file__).resolve().parents[2]
SECTION = "## Try it by hand"
RUNNING = "# leave it running"
NODE_PORT = "32197"

pytestmark = [
    pytest.mark.kubectl,
    pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed"),
    pytest.mark.skipif(shutil.which("aws") is None, reason="the AWS CLI is not installed"),
    pytest.mark.timeout(600),
]


def walkthrough_commands(readme: str) -> list[str]:
    """The section's commands in order: one per line, ``\\``-continued lines joined."""
    body = readme.split(f"\n{SECTION}\n", 1)[1].split("\n## ", 1)[0]
    commands: list[str] = []
    for block in re.findall(r"```bash\n(.*?)```", body, flags=re.DOTALL):
        pending = ""
        for line in block.splitlines():
            pending = f"{pending}\n{line}" if pending else line
            if pending.rstrip().endswith("\\"):
                continue
            if pending.strip() and not pending.lstrip().startswith("#"):
                commands.append(pending)
            pending = ""
    return commands


class Shell:
    """One user's shell: exports of a command are seen by the next one."""

    def __init__(self, cwd: Path, env: dict[str, str]) -> None:
        self.cwd = cwd
        self.env = env
        self.state = cwd / ".shell-state"
        self.state.write_text("")
        self.background: list[tuple[str, subprocess.Popen[bytes]]] = []

    def run(self, command: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
        script = (
            f"set -o pipefail\nsource {self.state}\n{command}\nrc=$?\n"
            f"export -p > {self.state}\nexit $rc\n"
        )
        return subprocess.run(
            ["bash", "-c", script],
            cwd=self.cwd,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def var(self, name: str) -> str:
        """A variable as the commands left it exported."""
        return self.run(f'printf %s "${name}"').stdout

    def start(self, command: str, log: Path) -> subprocess.Popen[bytes]:
        with log.open("wb") as out:
            proc = subprocess.Popen(
                ["bash", "-c", f"source {self.state}\n{command}"],
                cwd=self.cwd,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.background.append((command, proc))
        return proc


def clean_env() -> dict[str, str]:
    """The test runner's environment without anything that could point at a real cluster or
    account: what a user has in a fresh terminal, with this interpreter's ``python`` first."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("LBC_", "AWS_", "KUBE")) and k not in ("POD_NAME", "POD_NAMESPACE")
    }
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["AWS_CONFIG_FILE"] = os.devnull
    env["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull
    return env


def targets(output: str) -> dict[tuple[str, str], str]:
    """``(id, port) -> state`` from ``describe-target-health ... --output text``."""
    found = {}
    for line in output.splitlines():
        parts = line.split()
        if len(parts) == 3:
            found[(parts[0], parts[1])] = parts[2]
    return found


def wait_for_file(path: Path, proc: subprocess.Popen[bytes], log: Path, timeout: float) -> None:
    def probe() -> bool:
        assert proc.poll() is None, f"the lab world exited:\n{log.read_text()[-3000:]}"
        return path.exists()

    try:
        wait_blocking(probe, timeout=timeout, what=path.name, interval=0.2)
    except TimeoutError as exc:
        raise AssertionError(f"{exc}:\n{log.read_text()}") from None


def test_the_readme_walkthrough_runs_as_written(tmp_path: Path) -> None:
    commands = walkthrough_commands((ROOT / "README.md").read_text())
    started = [c for c in commands if RUNNING in c]
    assert len(started) == 3, started
    assert "lab world" in started[0], started
    assert len(commands) > 15, "the walkthrough lost its steps"

    (tmp_path / "manifests").symlink_to(ROOT / "manifests")
    shell = Shell(tmp_path, clean_env())
    outputs: list[tuple[str, str]] = []
    logs: list[Path] = []
    world: dict[str, Any] = {}
    try:
        for command in commands:
            if RUNNING in command:
                log = tmp_path / f"background-{len(logs)}.log"
                logs.append(log)
                proc = shell.start(command, log)
                if "lab world" in command:
                    wait_for_file(tmp_path / ".lab-world" / "world.json", proc, log, 120)
                    world = json.loads((tmp_path / ".lab-world" / "world.json").read_text())
                continue
            result = shell.run(command)
            tails = "\n".join(f"--- {p.name}:\n{p.read_text()[-2000:]}" for p in logs)
            assert result.returncode == 0, (
                f"README command failed ({result.returncode}): {command}\n"
                f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}\n{tails}"
            )
            outputs.append((command, result.stdout))

        ip = re.compile(r"\b\d+\.\d+\.\d+\.\d+\b")
        pods_out = next(out for cmd, out in outputs if "get pods" in cmd)
        slices_out = next(out for cmd, out in outputs if "get endpointslices" in cmd)
        pod_ips = set(ip.findall(pods_out))
        assert len(pod_ips) == 3, pods_out
        assert set(ip.findall(slices_out)) == pod_ips, slices_out

        a_nodes = set(world["clusters"]["a"]["nodes"].values())
        b_nodes = set(world["clusters"]["b"]["nodes"].values())
        described = [targets(out) for cmd, out in outputs if "describe-target-health" in cmd]
        assert len(described) == 3

        both = described[0]
        assert {(i, NODE_PORT) for i in a_nodes | b_nodes} <= set(both)
        assert all(both[(i, NODE_PORT)] == "healthy" for i in a_nodes | b_nodes), both

        ledgers = [out for cmd, out in outputs if "aws-lbc-targets-" in cmd]
        assert set(ledgers[0].strip().split(",")) == {f"{i}:{NODE_PORT}" for i in a_nodes}
        assert set(ledgers[1].strip().split(",")) == {f"{i}:{NODE_PORT}" for i in b_nodes}

        binding_a = next(out for cmd, out in outputs if '"$TGB_A" -o yaml' in cmd)
        assert "multiClusterTargetGroup: true" in binding_a, binding_a
        rules = next(out for cmd, out in outputs if "describe-security-group-rules" in cmd)
        lb_group = shell.var("SG_FROM_ABOVE")
        assert lb_group.startswith("sg-"), lb_group
        assert lb_group in binding_a
        for cluster in ("a", "b"):
            node_group = world["clusters"][cluster]["node_group"]
            assert f"{node_group}\ttcp\t{NODE_PORT}\t{lb_group}" in rules, rules

        outside = (world["outside_instance"], "8080")
        after_node, after_binding = described[1], described[2]
        kept = {(i, NODE_PORT) for i in b_nodes}
        for seen in (after_node, after_binding):
            assert all(seen.get(t) == "healthy" for t in kept), seen
            assert seen.get(outside) not in (None, "draining"), seen
        leaving = [t for t in after_node if t[0] in a_nodes and after_node[t] == "draining"]
        assert len(leaving) == 1, after_node
        assert all(after_binding.get((i, NODE_PORT)) in (None, "draining") for i in a_nodes)

        conditions = next(out for cmd, out in outputs if ".status.conditions" in cmd)
        assert "Ready=True" in conditions, conditions
        configmaps = next(out for cmd, out in outputs if cmd.endswith("get configmaps"))
        assert "aws-lbc-targets-" not in configmaps, configmaps

        # Ctrl-C: daemons first, then the world; each stops and leaves no process behind.
        for command, proc in reversed(shell.background):
            os.killpg(proc.pid, signal.SIGINT)
            code = proc.wait(timeout=60)
            assert code == 0, f"{command} exited {code}"
        # Reparented children are reaped by init, not by us.
        wait_exited(world["pids"].values(), timeout=10, what="the world's processes to exit")
        assert not (tmp_path / ".lab-world" / "env.sh").exists()
    finally:
        for _command, proc in shell.background:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        for pid in world.get("pids", {}).values():
            if running(pid):
                os.kill(pid, signal.SIGKILL)
