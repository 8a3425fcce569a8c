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
from botocore import xform_name

from tests.integration.manifests.layout import IAM_POLICY, ROOT

AWS_ADAPTERS = ROOT / "lbc" / "aws"
NETWORKING_POLICY = IAM_POLICY.with_name("policy-networking.json")
ASSUME_ROLE_POLICY = IAM_POLICY.with_name("policy-assume-role.json")
CROSS_ACCOUNT_TRUST = IAM_POLICY.with_name("trust-policy-cross-account.json")
STACKS_POLICY = IAM_POLICY.with_name("policy-stacks.json")
POLICIES = (IAM_POLICY, NETWORKING_POLICY, ASSUME_ROLE_POLICY, STACKS_POLICY)
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
    granted = set().union(*(granted_actions(p) for p in POLICIES))
    assert called_actions(AWS_ADAPTERS) - granted == set()


def test_target_policy_grants_nothing_lbc_does_not_call() -> None:
    assert granted_actions(IAM_POLICY) - called_actions(AWS_ADAPTERS) == set()


def test_networking_policy_grants_nothing_lbc_does_not_call() -> None:
    assert granted_actions(NETWORKING_POLICY) - called_actions(AWS_ADAPTERS) == set()


def test_assume_role_policy_grants_only_assume_role() -> None:
    assert granted_actions(ASSUME_ROLE_POLICY) == {"sts:AssumeRole"}
    assert "sts:AssumeRole" in called_actions(AWS_ADAPTERS)


def _grants(policy: Path) -> set[tuple[str, str]]:
    """(action, resource) pairs a policy grants."""
    pairs: set[tuple[str, str]] = set()
    for statement in json.loads(policy.read_text())["Statement"]:
        resources = statement["Resource"]
        for resource in [resources] if isinstance(resources, str) else resources:
            pairs |= {(action, resource) for action in statement["Action"]}
    return pairs


def test_policies_do_not_overlap() -> None:
    # The stacks policy tags security groups, the networking policy their rules: one action,
    # different resources. A grant (action and resource) is in one policy only.
    for i, a in enumerate(POLICIES):
        for b in POLICIES[i + 1 :]:
            assert _grants(a) & _grants(b) == set(), (a.name, b.name)


def test_stacks_policy_grants_nothing_lbc_does_not_call() -> None:
    assert granted_actions(STACKS_POLICY) - called_actions(AWS_ADAPTERS) == set()


def test_stack_creates_require_the_cluster_tag_in_the_request() -> None:
    # LBC's policy: a create is allowed only when it carries elbv2.k8s.aws/cluster (reference
    # §4.4), so create-then-tag would be AccessDenied for LBC users' roles.
    for statement in json.loads(STACKS_POLICY.read_text())["Statement"]:
        creates = {
            "elasticloadbalancing:CreateLoadBalancer",
            "elasticloadbalancing:CreateTargetGroup",
        }
        if creates & set(statement["Action"]):
            null = statement["Condition"]["Null"]
            assert null == {"aws:RequestTag/elbv2.k8s.aws/cluster": "false"}


def test_cross_account_trust_policy_trusts_a_role_and_requires_an_external_id() -> None:
    # The role in the target group's account: trusted by lbc's role of one cluster only, and
    # only with the external id the binding presents (spec.assumeRoleExternalId).
    document = json.loads(CROSS_ACCOUNT_TRUST.read_text())
    (statement,) = document["Statement"]
    assert statement["Effect"] == "Allow"
    assert statement["Action"] == "sts:AssumeRole"
    assert ":role/" in statement["Principal"]["AWS"]
    assert statement["Condition"]["StringEquals"]["sts:ExternalId"]


def _changes(policy: Path) -> dict[str, set[str]]:
    """Resources of every statement granting more than Describe*, by action."""
    changes: dict[str, set[str]] = {}
    for statement in json.loads(policy.read_text())["Statement"]:
        resources = statement["Resource"]
        resources = {resources} if isinstance(resources, str) else set(resources)
        for action in statement["Action"]:
            if not action.split(":")[1].startswith("Describe"):
                changes[action] = resources
    return changes


def test_target_changes_are_limited_to_target_groups() -> None:
    group = "arn:aws:elasticloadbalancing:*:*:targetgroup/*/*"
    assert _changes(IAM_POLICY) == {
        "elasticloadbalancing:RegisterTargets": {group},
        "elasticloadbalancing:DeregisterTargets": {group},
    }


def test_security_group_changes_are_limited_to_groups_and_rules() -> None:
    group, rule = "arn:aws:ec2:*:*:security-group/*", "arn:aws:ec2:*:*:security-group-rule/*"
    assert _changes(NETWORKING_POLICY) == {
        "ec2:AuthorizeSecurityGroupIngress": {group, rule},
        "ec2:RevokeSecurityGroupIngress": {group, rule},
        # Tags mark this cluster's rules; never any other kind of resource.
        "ec2:CreateTags": {rule},
        "ec2:DeleteTags": {rule},
    }
