"""``lbc.app.main``: the entry point ``lbc run`` calls."""

from __future__ import annotations

import io
from pathlib import Path

import orjson
import pytest
from lbc import app
from lbc.observe.log import configure
from lbc.settings import Settings


def test_unusable_credentials_exit_with_the_config_code_and_one_clear_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = Settings(kubeconfig=str(tmp_path / "missing-kubeconfig"), log_format="json")
    try:
        code = app.main(settings)
    finally:
        configure("info", "json", stream=io.StringIO())
    assert code == app.EXIT_CONFIG
    lines = [orjson.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line["event"] for line in lines] == ["lbc_starting", "startup_failed"]
    assert lines[0]["version"]
    assert lines[0]["settings"]["lease_name"] == "lbc-leader"
    assert lines[1]["reason"] == "KubeConfigInvalid"
    assert lines[1]["error"].endswith("missing-kubeconfig: the file does not exist")
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize(
    ("content", "says"),
    [("", "the file is empty"), ("apiVersion: v1\nkind: Config\n", "no current-context")],
)
def test_a_kubeconfig_lbc_cannot_use_is_one_json_line_saying_why(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str, says: str
) -> None:
    path = tmp_path / "kubeconfig"
    path.write_text(content)
    settings = Settings(kubeconfig=str(path), log_format="json")
    try:
        code = app.main(settings)
    finally:
        configure("info", "json", stream=io.StringIO())
    assert code == app.EXIT_CONFIG
    captured = capsys.readouterr()
    lines = [orjson.loads(line) for line in captured.out.splitlines()]
    assert [line["event"] for line in lines] == ["lbc_starting", "startup_failed"]
    assert says in lines[1]["error"]
    assert captured.err == ""
