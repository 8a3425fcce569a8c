"""``lbc inspect`` on the command line: help, and exit status 2 on bad usage."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from lbc.cli import main
from lbc.inspect import command


def test_lbc_help_lists_inspect(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stop:
        main(["--help"])
    assert stop.value.code == 0
    assert "inspect" in capsys.readouterr().out


@pytest.mark.parametrize("what", ["target-group", "binding"])
def test_each_inspection_has_help(what: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stop:
        main(["inspect", what, "--help"])
    assert stop.value.code == 0
    assert f"usage: lbc inspect {what}" in capsys.readouterr().out


def test_an_unknown_output_format_is_bad_usage() -> None:
    with pytest.raises(SystemExit) as stop:
        command.main(["target-group", "web", "-o", "xml"], io.StringIO(), io.StringIO())
    assert stop.value.code == 2


def test_a_binding_without_namespace_is_bad_usage_without_a_traceback() -> None:
    err = io.StringIO()
    assert command.main(["binding", "web"], io.StringIO(), err) == 2
    assert err.getvalue() == "lbc inspect: expected NAMESPACE/NAME, got 'web'\n"


def test_a_missing_kubeconfig_is_bad_usage(tmp_path: Path) -> None:
    err = io.StringIO()
    missing = str(tmp_path / "nope")
    code = command.main(
        ["target-group", "web", "--kubeconfig", missing, "--region", "us-east-1"],
        io.StringIO(),
        err,
    )
    assert code == 2
    assert missing in err.getvalue()
    assert "Traceback" not in err.getvalue()
