"""The command line as users call it: a real subprocess, real exit codes."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from lbc.cli import main


def _lbc(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("LBC_")}
    return subprocess.run(
        [sys.executable, "-m", "lbc", *args],
        capture_output=True,
        text=True,
        env={**base, **(env or {})},
        timeout=60,
        check=False,
    )


def test_help_lists_the_subcommands() -> None:
    out = _lbc("--help")
    assert out.returncode == 0
    for sub in ("run", "lab", "demo", "bench", "version"):
        assert sub in out.stdout


@pytest.mark.parametrize("sub", ["run", "lab", "demo", "bench", "version"])
def test_each_subcommand_has_help(sub: str, capsys: pytest.CaptureFixture[str]) -> None:
    try:
        code = main([sub, "--help"])
    except SystemExit as stop:
        code = stop.code  # type: ignore[assignment]
    assert code == 0
    assert f"usage: lbc {sub}" in capsys.readouterr().out


def test_unknown_subcommand_prints_usage_and_exits_2() -> None:
    out = _lbc("frobnicate")
    assert out.returncode == 2
    assert "usage: lbc" in out.stderr


def test_bad_setting_is_one_line_and_exit_2() -> None:
    out = _lbc("run", env={"LBC_WORKERS": "abc"})
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, out.stderr
    assert "LBC_WORKERS" in lines[0]
    assert "Traceback" not in out.stderr


def test_version_prints_the_package_version() -> None:
    from lbc import __version__

    out = _lbc("version")
    assert out.returncode == 0
    assert out.stdout.strip() == f"lbc {__version__}"


def test_stacks_without_cluster_name_exit_2_naming_the_variable() -> None:
    out = _lbc("run", env={"LBC_STACKS": "ingress", "LBC_VPC_ID": "vpc-1"})
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, out.stderr
    assert "LBC_CLUSTER_NAME" in lines[0]
    assert "Traceback" not in out.stderr
