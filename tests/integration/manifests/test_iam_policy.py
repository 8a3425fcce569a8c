"""The IAM policies grant what lbc's AWS adapters call, and nothing they do not.

The actions are read from the code, not from a list kept beside it: every attribute in
``lbc/aws`` named after a botocore operation (``describe_target_health`` is ELBv2's
DescribeTargetHealth) counts as a call, so a new call without its permission fails here before it
fails on a cluster with ``AccessDenied``.
"""

from __future__ import annotations

import ast
import json
from functools import cache
from pathlib import Path

import botocore.session
import pytest
from botocore import xform_name

from tests.integration.manifests.layout import IAM_POLICY, ROOT

AWS_ADAPTERS = ROOT / "lbc" / "aws"
NETWORKING_POLICY = IAM_POLICY.with_name("policy-networking.json")
SERVICES = ("elbv2", "ec2", "sts")


@cache
def _operations() -> dict[str, set[str]]:
    """snake_case method name -> IAM actions (``service:Operation``) it may stand for."""
    session = botocore.session.get_session()
    table: dict[str, set[str]] = {}
    for service in SERVICES:
        model = session.get_service_model(service)
        for op in model.operation_names:
            table.setdefault(xform_name(op), set()).add(f"{model.signing_name}:{op}")
    return table


def called_actions(package: Path) -> set[str]:
    """IAM actions of every botocore operation referenced in ``package``'s modules."""
    table = _operations()
    actions: set[str] = set()
    for path in package.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Attribute) and node.attr in table:
                actions |= table[node.attr]
    return actions


def granted_actions(policy: Path) -> set[str]:
    document = json.loads(policy.read_text())
    assert document["Version"] == "2012-10-17"
    actions: set[str] = set()
    for statement in document["Statement"]:
        assert statement["Effect"] == "Allow"
        assert all("*" not in a for a in statement["Action"]), "no wildcard actions"
        actions |= set(statement["Action"])
    return actions


def test_scanner_sees_the_target_group_calls() -> None:
    # Guards the scan itself: if the adapters stopped naming their calls this way, the two tests
    # below would compare empty sets.
    assert "elasticloadbalancing:RegisterTargets" in called_actions(AWS_ADAPTERS)


def test_every_aws_call_of_lbc_is_granted() -> None:
    granted = granted_actions(IAM_POLICY) | granted_actions(NETWORKING_POLICY)
    assert called_actions(AWS_ADAPTERS) - granted == set()


def test_target_policy_grants_nothing_lbc_does_not_call() -> None:
    assert granted_actions(IAM_POLICY) - called_actions(AWS_ADAPTERS) == set()


def test_networking_policy_grants_nothing_lbc_does_not_call() -> None:
    called = called_actions(AWS_ADAPTERS)
    granted = granted_actions(NETWORKING_POLICY)
    if not called & granted:
        pytest.skip("lbc does not manage security-group rules (spec.networking) yet")
    assert granted - called == set()


def test_policies_do_not_overlap() -> None:
    assert granted_actions(IAM_POLICY) & granted_actions(NETWORKING_POLICY) == set()


def test_target_changes_are_limited_to_target_groups() -> None:
    document = json.loads(IAM_POLICY.read_text())
    for statement in document["Statement"]:
        if any(not a.split(":")[1].startswith("Describe") for a in statement["Action"]):
            assert statement["Resource"] == "arn:aws:elasticloadbalancing:*:*:targetgroup/*/*"
