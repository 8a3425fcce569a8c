"""The command line as users call it: a real subprocess, real exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

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


def test_bench_readme_rewrites_only_the_table_from_the_figures_json(tmp_path: Path) -> None:
    figures = tmp_path / "bench.json"
    figures.write_text(
        json.dumps(
            {
                "date": "2026-12-03 12:00 UTC",
                "machine": {"cpu": "Test CPU", "cpus": 2, "system": "Linux", "python": "3.11"},
                "load_average": {"start": 1.0, "end": 2.0},
                "seconds": 300.0,
                "scale": 1.0,
                "figures": [
                    {
                        "name": "cpu: ratio",
                        "value": 2.1,
                        "unit": "x",
                        "note": "",
                        "aim": "< 2.5",
                        "met": True,
                    },
                    {
                        "name": "churn: ratio",
                        "value": 1.2,
                        "unit": "x",
                        "note": "a | b",
                        "aim": "<= 1.05",
                        "met": False,
                    },
                ],
            }
        )
    )
    readme = tmp_path / "README.md"
    readme.write_text(
        "intro\n<!-- bench-table:begin -->\nold table\n<!-- bench-table:end -->\nnote 1\n"
    )
    out = _lbc("bench", "--readme", str(readme), "--json", str(figures))
    assert out.returncode == 0, out.stderr
    text = readme.read_text()
    assert text.startswith("intro\n<!-- bench-table:begin -->\n")
    assert text.endswith("note 1\n")
    assert "old table" not in text
    assert "2026-12-03 12:00 UTC on Test CPU (2 CPUs)" in text
    assert "| cpu: ratio | 2.10 x | < 2.5 | met |" in text
    assert "| churn: ratio (a \\| b) | 1.20 x | <= 1.05 | **missed** |" in text


def test_bench_only_names_one_benchmark_file_else_selects_tests_by_expression(
    tmp_path: Path,
) -> None:
    perf = tmp_path / "perf"
    perf.mkdir()
    for name in ("restart", "stacks"):
        (perf / f"bench_{name}.py").write_text(f"def test_{name}_restart():\n    pass\n")
    one = _lbc("bench", "--path", str(perf), "--only", "restart")
    assert one.returncode == 0, one.stdout + one.stderr
    assert "1 passed" in one.stdout
    # Not a file's name: a -k expression over test names ("restart" is in both).
    both = _lbc("bench", "--path", str(perf), "--only", "restart and not nothing")
    assert both.returncode == 0, both.stdout + both.stderr
    assert "2 passed" in both.stdout
