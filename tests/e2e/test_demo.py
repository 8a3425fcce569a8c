"""``make demo`` (``python -m lbc demo``) passes and shows what the README says it shows."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

pytestmark = pytest.mark.timeout(300)


def test_the_demo_converges_and_shows_ledgers_the_outside_target_and_conditions() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "lbc", "demo"],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert done.returncode == 0, f"{done.stdout}\n{done.stderr}"
    out = done.stdout
    for step in ("world", "ingress", "bind", "outside", "scale-down", "delete"):
        assert re.search(rf"step \d+/\d+ {step}:", out), out
    # Cluster a's binding is the one lbc generated from the seed's Ingress (LBC's name shape).
    generated = r"aws-lbc-targets-k8s-echoserv-echoserv-[0-9a-f]{10}"
    assert re.search(rf"ledger of cluster a \({generated}\)", out), out
    assert re.search(rf"ledger of cluster a: {generated} is gone", out), out
    assert "target group (read from a's binding): arn:aws:elasticloadbalancing:" in out
    assert re.search(r"ALB DNS name \(Ingress status\): k8s-echoserv-echoserv-\S+", out), out
    assert "retained for cluster b: ALB " in out
    assert "Warning SharedStackRetained:" in out
    assert "ledger of cluster b (aws-lbc-targets-my-target-group-binding)" in out
    assert "Ready=True TargetsSynced" in out
    assert "NetworkingReady=True" in out
    # The hand-registered target is in the demo's last table of the group, still healthy.
    last_table = re.split(r"TARGET +OWNER +STATE", out)[-1]
    outside = [line for line in last_table.splitlines() if " outside " in line]
    assert len(outside) == 1, last_table
    assert "healthy" in outside[0]
