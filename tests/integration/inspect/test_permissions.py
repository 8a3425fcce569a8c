"""The README's minimal permissions for ``lbc inspect`` are enough, and only reads.

The ClusterRole and the IAM policy are read from README.md ("Inspecting a shared target
group"), so the documented permissions are the tested ones: the ClusterRole is applied to an
API server that enforces RBAC and the inspector runs as a user bound to nothing else.
"""

from __future__ import annotations

import io
import json
import re
from pathlib import Path
from typing import Any

import yaml
from lbc.inspect.command import run

from lbc_lab.apiserver.server import LabApiServer
from lbc_lab.elb_fixtures import ElbLab
from lbc_lab.elb_scenario import create_network, create_target_group
from tests.integration.inspect.support import (
    POD_PORT,
    ROOT,
    lay_out,
    merged_kubeconfig,
)

USER = "oncall@example.com"


def section() -> str:
    text = (ROOT / "README.md").read_text()
    return text.split("## Inspecting a shared target group", 1)[1].split("\n## ", 1)[0]


def documented_role() -> dict[str, Any]:
    block = re.search(r"```yaml\n(.*?)```", section(), re.DOTALL)
    assert block is not None
    docs = [d for d in yaml.safe_load_all(block.group(1)) if d]
    [role] = [d for d in docs if d["kind"] == "ClusterRole"]
    return role


def documented_policy() -> dict[str, Any]:
    block = re.search(r"```json\n(.*?)```", section(), re.DOTALL)
    assert block is not None
    policy: dict[str, Any] = json.loads(block.group(1))
    return policy


def test_the_documented_role_grants_reads_only() -> None:
    verbs = {verb for rule in documented_role()["rules"] for verb in rule["verbs"]}
    assert verbs <= {"get", "list"}


def test_the_documented_policy_holds_exactly_the_calls_made() -> None:
    [statement] = documented_policy()["Statement"]
    assert sorted(statement["Action"]) == [
        "elasticloadbalancing:DescribeTargetGroups",
        "elasticloadbalancing:DescribeTargetHealth",
    ]


async def test_the_inspector_works_under_the_documented_role_alone(
    elb_lab: ElbLab, tmp_path: Path
) -> None:
    async with (
        LabApiServer.running(rbac=True, kubeconfig_path=tmp_path / "admin") as api,
        elb_lab.client("ec2") as ec2,
        elb_lab.client("elbv2") as elbv2,
    ):
        net = await create_network(ec2)
        tg = await create_target_group(elbv2, net, "web", attach=False)
        pods = {"echoserver-1": "10.0.8.1"}
        lay_out(api, tg.arn, pods)
        api.create(documented_role())
        api.create(
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "ClusterRoleBinding",
                "metadata": {"name": "inspector"},
                "roleRef": {
                    "apiGroup": "rbac.authorization.k8s.io",
                    "kind": "ClusterRole",
                    "name": documented_role()["metadata"]["name"],
                },
                "subjects": [{"kind": "User", "name": USER}],
            }
        )
        await elbv2.register_targets(
            TargetGroupArn=tg.arn, Targets=[{"Id": "10.0.8.1", "Port": POD_PORT}]
        )
        config = merged_kubeconfig(
            tmp_path / "config", {"a": api.kubeconfig_for(USER, tmp_path / "user")}
        )
        for argv in (
            ["target-group", tg.arn, "--kubeconfig", str(config)],
            ["binding", "echoserver/web", "--kubeconfig", str(config)],
        ):
            out, err = io.StringIO(), io.StringIO()
            code = await run([*argv, "-o", "json"], out, err)
            assert (code, err.getvalue()) == (0, ""), out.getvalue()
        assert json.loads(out.getvalue())["converged"] is True
