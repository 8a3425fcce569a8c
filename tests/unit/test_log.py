"""Log lines are JSON with the stable keys dashboards rely on."""

from __future__ import annotations

import io
from datetime import datetime

import orjson
from lbc.observe.log import bound_context, configure, get_logger


def test_json_lines_carry_timestamp_level_logger_event_and_context() -> None:
    out = io.StringIO()
    configure("info", "json", stream=out)
    log = get_logger("lbc.test")
    with bound_context(reconcile_id="r-1", namespace="ns", name="tgb"):
        log.info("targets_registered", count=3)
    log.info("after_context")
    log.debug("hidden_below_level")
    lines = [orjson.loads(line) for line in out.getvalue().splitlines()]
    assert len(lines) == 2
    first, second = lines
    assert first["event"] == "targets_registered"
    assert first["level"] == "info"
    assert first["logger"] == "lbc.test"
    assert (first["reconcile_id"], first["namespace"], first["name"], first["count"]) == (
        "r-1",
        "ns",
        "tgb",
        3,
    )
    ts = datetime.fromisoformat(first["timestamp"].replace("Z", "+00:00"))
    offset = ts.utcoffset()
    assert offset is not None
    assert offset.total_seconds() == 0
    assert "reconcile_id" not in second


def test_console_format_is_not_json() -> None:
    out = io.StringIO()
    configure("debug", "console", stream=out)
    get_logger("lbc.test").debug("hello_human", answer=42)
    text = out.getvalue()
    assert "hello_human" in text
    assert "answer=42" in text
    assert not text.lstrip().startswith("{")


def test_loggers_made_before_configure_follow_the_configured_format() -> None:
    early = get_logger("lbc.early")
    out = io.StringIO()
    configure("info", "json", stream=out)
    early.info("written_late", n=1)
    line = orjson.loads(out.getvalue())
    assert line["logger"] == "lbc.early"
    assert line["event"] == "written_late"
