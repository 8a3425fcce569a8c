"""Test doubles for the webhooks: target groups by ARN and name, caches over real stores."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lbc.aws.elbv2 import TargetGroupInfo
from lbc.aws.roles import Role
from lbc.control.entry import BindingEntry, binding_entry
from lbc.core.errors import AccessError, TargetGroupNotFoundError, ThrottledError
from lbc.core.objects import ServiceView
from lbc.kube.informer import Store
from lbc.kube.views import service_view
from lbc.webhook.caches import ClusterCaches

VPC = "vpc-0123456789abcdef0"
IP_ARN = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web-ip/0123456789abcdef"
INSTANCE_ARN = (
    "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web-inst/0123456789abcdef"
)
LAMBDA_ARN = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/fn/0123456789abcdef"
V6_ARN = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web-v6/0123456789abcdef"
# A group in another account, visible only through ROLE (with its external id).
SHARED_ARN = (
    "arn:aws:elasticloadbalancing:eu-west-1:222222222222:targetgroup/shared/0123456789abcdef"
)
SHARED_VPC = "vpc-0fedcba9876543210"
ROLE = Role("arn:aws:iam::222222222222:role/lbc-shared", "ext-1")


class FakeGroups:
    """Target groups known by ARN and by name; counts describes to show caching elsewhere."""

    def __init__(self) -> None:
        self.groups = {
            IP_ARN: TargetGroupInfo(IP_ARN, "web-ip", "ip", "HTTP", 80, VPC, "ipv4"),
            INSTANCE_ARN: TargetGroupInfo(
                INSTANCE_ARN, "web-inst", "instance", "TCP", 80, VPC, None
            ),
            LAMBDA_ARN: TargetGroupInfo(LAMBDA_ARN, "fn", "lambda", None, None, None, None),
            V6_ARN: TargetGroupInfo(V6_ARN, "web-v6", "ip", "TCP", 80, VPC, "ipv6"),
        }
        self.throttled = False
        self.calls = 0
        self.role: Role | None = None
        self.role_calls: list[Role] = []
        self._views: dict[Role, FakeGroups] = {}

    def as_role(self, role: Role | None) -> FakeGroups:
        """The account behind ROLE holds only SHARED_ARN; any other role cannot be assumed."""
        if role is None:
            return self
        view = self._views.get(role)
        if view is None:
            view = FakeGroups()
            view.role = role
            view.role_calls = self.role_calls
            view.groups = (
                {
                    SHARED_ARN: TargetGroupInfo(
                        SHARED_ARN, "shared", "ip", "TCP", 80, SHARED_VPC, None
                    )
                }
                if role == ROLE
                else {}
            )
            self._views[role] = view
        return view

    def _assume(self) -> None:
        if self.role is None:
            return
        self.role_calls.append(self.role)
        if self.role != ROLE:
            raise AccessError(
                f"AssumeRole {self.role}: AccessDenied: not authorized to perform sts:AssumeRole",
                reason="AssumeRoleFailed",
            )

    async def describe_target_group(self, arn: str) -> TargetGroupInfo:
        self.calls += 1
        if self.throttled:
            raise ThrottledError("Rate exceeded")
        self._assume()
        if arn not in self.groups:
            raise TargetGroupNotFoundError(f"DescribeTargetGroups: no target group {arn}")
        return self.groups[arn]

    async def describe_target_group_by_name(self, name: str) -> TargetGroupInfo:
        self.calls += 1
        self._assume()
        found = [g for g in self.groups.values() if g.name == name]
        if len(found) != 1:
            raise TargetGroupNotFoundError(
                f"expected one target group named {name!r}, found {len(found)}"
            )
        return found[0]


def tgb(name: str, ns: str = "apps", *, uid: str = "", **spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"serviceRef": {"name": "web", "port": 80}, **spec}
    return {
        "apiVersion": "elbv2.k8s.aws/v1beta1",
        "kind": "TargetGroupBinding",
        "metadata": {"name": name, "namespace": ns, "uid": uid or f"uid-{ns}-{name}"},
        "spec": body,
    }


def service(name: str, ns: str = "apps", selector: Mapping[str, str] | None = None) -> Any:
    return {
        "metadata": {"name": name, "namespace": ns},
        "spec": {
            "type": "ClusterIP",
            "selector": dict(selector or {}),
            "ports": [{"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP"}],
        },
    }


class Cluster:
    """Caches as the webhooks read them, filled from raw objects."""

    def __init__(self) -> None:
        self.bindings: Store[BindingEntry] = Store()
        self.services: Store[ServiceView] = Store()
        self.caches = ClusterCaches(self.bindings, self.services)

    def add_binding(self, obj: Mapping[str, Any]) -> None:
        meta = obj["metadata"]
        self.bindings.put(f"{meta['namespace']}/{meta['name']}", binding_entry(obj))

    def add_service(self, obj: Mapping[str, Any]) -> None:
        meta = obj["metadata"]
        self.services.put(f"{meta['namespace']}/{meta['name']}", service_view(obj))
