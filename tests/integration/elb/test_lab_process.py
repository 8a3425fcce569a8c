"""``python -m lbc lab elb`` serves in the foreground and stops cleanly, by itself if orphaned."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest

from lbc_lab.elb_control import LabControlError, LabElbControl
from lbc_lab.elb_fixtures import ElbLab


def _start(*extra: str) -> tuple[subprocess.Popen[bytes], str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "lbc", "lab", "elb", "--port", "0", *extra],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()  # the server prints its endpoint once it accepts connections
    return proc, json.loads(line)["endpoint_url"]


def test_lab_server_exits_zero_on_sigterm() -> None:
    # SIGINT goes through the same handler; one process start is enough (each costs seconds).
    proc, url = _start("--time-factor", "0.5")
    try:
        assert LabElbControl(url).status()["clock"]["time_factor"] == 0.5
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0
    finally:
        proc.kill()
        proc.wait(timeout=15)


def test_lab_server_exits_when_its_parent_closes_stdin() -> None:
    proc, url = _start("--stop-on-stdin-eof")
    try:
        LabElbControl(url).status()
        assert proc.stdin is not None
        proc.stdin.close()
        assert proc.wait(timeout=15) == 0
    finally:
        proc.kill()
        proc.wait(timeout=15)


def test_control_plane_refuses_bad_input(elb_lab_server: object) -> None:
    from lbc_lab.elb_process import LabElbProcess

    assert isinstance(elb_lab_server, LabElbProcess)
    control = elb_lab_server.control
    with pytest.raises(LabControlError, match="HTTP 400"):
        control.set_clock(time_factor=0)
    with pytest.raises(LabControlError, match="HTTP 400"):
        control.set_health("10.0.0.1", "unhealthy", reason="Elb.RegistrationInProgress")
    with pytest.raises(LabControlError, match="HTTP 400"):
        control.add_fault("explode")
    with pytest.raises(LabControlError, match="HTTP 404"):
        control._call("GET", "nothing-here")


def test_fixture_environment_points_clients_at_the_lab(elb_lab: ElbLab) -> None:
    assert os.environ["LBC_AWS_ENDPOINT_URL"] == elb_lab.endpoint_url
    assert os.environ["AWS_DEFAULT_REGION"] == elb_lab.region
    assert "AWS_PROFILE" not in os.environ
