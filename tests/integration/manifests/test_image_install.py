"""The Dockerfile's install steps, replayed in fresh virtual environments from the same locks.

There is no Docker engine on the development machines, so the image itself is never built here.
What can break without one is replayed instead: the RUN commands between ``# install:begin`` and
``# install:end`` are extracted from the Dockerfile (not copied into this test) and run with
``sh -c`` against a copy of the build context, with the stage's paths pointed into a temporary
directory. The result must run ``python -m lbc version`` from outside the source tree, import
the daemon, satisfy every requirement and hold exactly the locked set.

Deviation from the image build, on purpose: the stage's ``PIP_NO_CACHE_DIR=1`` is dropped so
repeated runs reuse pip's cache (the wheels are the same, their hashes are still checked).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from lbc import __version__

from tests.integration.manifests.layout import DOCKERFILE, ROOT

STAGE_PATHS = ("BUILD_VENV", "VENV", "DIST")


def _run(args: list[str], *, timeout: float = 60, **kw: Any) -> subprocess.CompletedProcess[str]:
    """``args`` run with their output captured as text and a deadline; the caller checks the
    exit code (so a failure shows what the command printed)."""
    return subprocess.run(args, capture_output=True, text=True, timeout=timeout, check=False, **kw)


def _logical_lines(text: str) -> list[str]:
    """Dockerfile lines with backslash continuations joined and comments dropped."""
    lines: list[str] = []
    current = ""
    for raw in text.splitlines():
        stripped = raw.strip()
        if stripped.startswith("#") and not current:
            lines.append(stripped)
            continue
        if stripped.startswith("#"):
            continue  # a comment inside a continued instruction
        if stripped.endswith("\\"):
            current += stripped[:-1] + " "
            continue
        lines.append(current + stripped)
        current = ""
    return lines


def install_steps(dockerfile: str) -> list[str]:
    """The shell commands of the RUN instructions between the install markers."""
    lines = _logical_lines(dockerfile)
    begin, end = lines.index("# install:begin"), lines.index("# install:end")
    body = [line for line in lines[begin + 1 : end] if line and not line.startswith("#")]
    if not body or any(not line.startswith("RUN ") for line in body):
        raise ValueError("only RUN instructions may stand between the install markers")
    return [line.removeprefix("RUN ").strip() for line in body]


def stage_env(dockerfile: str) -> dict[str, str]:
    """The builder stage's ENV values (``KEY=value`` pairs of its ENV instructions)."""
    env: dict[str, str] = {}
    in_builder = False
    for line in _logical_lines(dockerfile):
        if line.startswith("FROM "):
            in_builder = line.endswith(" AS builder")
        elif in_builder and line.startswith("ENV "):
            env.update(re.findall(r"(\w+)=(\S+)", line))
    return env


def copied_context(dockerfile: str) -> list[str]:
    """The build-context paths the builder stage COPYs."""
    paths: list[str] = []
    for line in _logical_lines(dockerfile):
        if line.startswith("COPY ") and "--from=" not in line:
            paths += line.split()[1:-1]
    return paths


def test_install_markers_hold_only_run_steps() -> None:
    steps = install_steps(DOCKERFILE.read_text())
    assert len(steps) == 2
    assert all("--require-hashes" in s for s in steps)


def test_build_context_admits_exactly_what_the_builder_copies() -> None:
    rules = [
        line
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line and not line.startswith("#")
    ]
    assert rules[0] == "*"
    admitted = {line[1:].rstrip("/") for line in rules if line.startswith("!")}
    assert admitted == set(copied_context(DOCKERFILE.read_text()))


def test_dockerfile_follows_the_image_rules() -> None:
    text = DOCKERFILE.read_text()
    stages = re.findall(r"^FROM (\S+) AS (\w+)$", text, re.MULTILINE)
    assert stages == [("${PYTHON_IMAGE}", "builder"), ("${PYTHON_IMAGE}", "runtime")]
    assert re.search(r"^ARG PYTHON_IMAGE=python:3\.\d+-slim", text, re.MULTILINE)
    runtime = text.split(" AS runtime", 1)[1]
    assert re.search(r"^USER \d+:\d+$", runtime, re.MULTILINE)
    assert 'ENTRYPOINT ["python", "-m", "lbc", "run"]' in runtime
    assert "PYTHONUNBUFFERED=1" in runtime
    # Nothing is built in the final stage: it only copies the finished environment.
    assert not re.search(
        r"pip|apt-get|gcc|build-essential",
        runtime.split("ENTRYPOINT")[0].replace("org.opencontainers", ""),
    )


@pytest.mark.timeout(300)
def test_dockerfile_install_steps_give_a_working_lbc(tmp_path: Path) -> None:
    text = DOCKERFILE.read_text()
    context = tmp_path / "src"
    context.mkdir()
    for rel in copied_context(text):
        source = ROOT / rel
        if source.is_dir():
            shutil.copytree(source, context / rel, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, context / rel)

    # `python` on PATH is the base interpreter, as /usr/local/bin/python is in the image.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    base_python = Path(getattr(sys, "_base_executable", sys.executable))
    (bin_dir / "python").symlink_to(base_python)

    env = {k: v for k, v in os.environ.items() if k not in {"VIRTUAL_ENV", "PYTHONPATH"}}
    env.update(stage_env(text))
    env.pop("PIP_NO_CACHE_DIR", None)
    env.update({name: str(tmp_path / name.lower()) for name in STAGE_PATHS})
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"

    for step in install_steps(text):
        done = _run(["/bin/sh", "-c", step], cwd=context, env=env, timeout=240)
        assert done.returncode == 0, f"step failed: {step}\n{done.stdout}\n{done.stderr}"
    assert done.stdout.strip().splitlines()[-1] == f"lbc {__version__}"

    venv_python = tmp_path / "venv" / "bin" / "python"
    clean = {"PATH": "/usr/bin:/bin", "PYTHONDONTWRITEBYTECODE": "1"}

    def run(*args: str) -> str:
        out = _run([str(venv_python), *args], cwd=tmp_path, env=clean)
        assert out.returncode == 0, out.stdout + out.stderr
        return out.stdout

    assert run("-m", "lbc", "version").strip() == f"lbc {__version__}"
    # The daemon's own imports resolve inside the environment (a missing dependency fails here).
    origin = run("-c", "import lbc.app, lbc.cli; print(lbc.app.__file__)").strip()
    assert origin.startswith(str(tmp_path / "venv"))
    # The environment holds the locked set and lbc, nothing else (pip itself was removed).
    installed = run(
        "-c",
        "import importlib.metadata as m; "
        "print('\\n'.join(sorted(f'{d.name.lower()}=={d.version}' for d in m.distributions())))",
    ).split()
    locked = re.findall(r"^([a-z0-9._-]+==\S+)", (ROOT / "requirements.lock").read_text(), re.M)
    normalise = lambda pin: re.sub(r"[-_.]+", "-", pin.split("==")[0]) + "==" + pin.split("==")[1]  # noqa: E731 - local one-liner
    assert sorted(map(normalise, installed)) == sorted(
        [*map(normalise, locked), f"lbc=={__version__}"]
    )
    check = _run([sys.executable, "-m", "pip", "--python", str(venv_python), "check"])
    assert check.returncode == 0, check.stdout + check.stderr

    # The image carries no emulator code: the lab is a distribution of its own, and the commands
    # it plugs in say so instead of failing with an import error.
    site = tmp_path / "venv" / "lib"
    assert not list(site.glob("python3*/site-packages/lbc_lab")), "the lab reached the image"
    assert not list(site.glob("python3*/site-packages/lbc/lab")), "the lab reached the image"
    demo = _run([str(venv_python), "-m", "lbc", "demo"], cwd=tmp_path, env=clean)
    assert demo.returncode == 2
    assert "needs the lab, which is not installed" in demo.stderr
    assert "Traceback" not in demo.stderr


@pytest.mark.timeout(180)
@pytest.mark.parametrize("arch", ["x86_64", "aarch64"])
def test_locked_dependencies_have_wheels_for_both_node_architectures(
    arch: str, tmp_path: Path
) -> None:
    # EKS fleets mix x86 and Graviton nodes; the image build installs binary wheels only
    # (--only-binary=:all:), so every locked pin needs a wheel, with a locked hash, for each.
    python = re.search(r"python:(3\.\d+)-", DOCKERFILE.read_text())
    assert python is not None
    platforms = [f"manylinux{tag}_{arch}" for tag in ("2014", "_2_17", "_2_28")]
    done = _run(
        [
            sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
            "--only-binary=:all:", "--require-hashes", "--implementation", "cp",
            "--python-version", python[1], *(f"--platform={p}" for p in platforms),
            "-r", str(ROOT / "requirements.lock"), "-d", str(tmp_path),
        ],
        timeout=150,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    locked = re.findall(r"^([a-z0-9._-]+)==", (ROOT / "requirements.lock").read_text(), re.M)
    assert len(list(tmp_path.glob("*.whl"))) == len(locked)
