"""Shared inputs for the stack builder tests: the seed example's objects, a two-AZ VPC, and
builders of the views and binding rules the tests write most."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from lbc.core.stack.inputs import (
    IngressBackendView,
    IngressPathView,
    ServiceView,
    StackConfig,
    SubnetFacts,
)
from lbc.core.stack.model import BACKEND_SG, BindingPeer, BindingPort, BindingRule
from lbc.core.stack.views import service_view

EXAMPLES = Path(__file__).resolve().parents[4] / "manifests" / "examples"
CONFIG = StackConfig(cluster_name="c1", vpc_id="vpc-0123456789abcdef0")
SEED_UID = "5b0fd2a4-0c1e-4c55-9bd6-7ad0d3d7c1a1"

PUBLIC_SUBNETS = (
    SubnetFacts("subnet-aaa", "us-east-1a", 251, (("kubernetes.io/role/elb", "1"),)),
    SubnetFacts("subnet-bbb", "us-east-1b", 251, (("kubernetes.io/role/elb", "1"),)),
)
PRIVATE_SUBNETS = (
    SubnetFacts("subnet-ccc", "us-east-1a", 251, (("kubernetes.io/role/internal-elb", "1"),)),
    SubnetFacts("subnet-ddd", "us-east-1b", 251, (("kubernetes.io/role/internal-elb", "1"),)),
)

# The load balancer's backend group, the peer of every binding rule of a stack with groups.
LB_BACKEND = (BindingPeer(security_group=BACKEND_SG),)


def tcp_from(peers: tuple[BindingPeer, ...], *ports: int | str | None) -> BindingRule:
    """The binding rule letting ``peers`` reach ``ports`` over TCP (``None``: every port)."""
    return BindingRule(peers, tuple(BindingPort("TCP", port) for port in ports))


def path(
    p: str, kind: str = "Prefix", service: str = "web", port: int | str = 80
) -> IngressPathView:
    """An Ingress path ``p`` (of ``kind``) to the backend ``service``:``port``."""
    return IngressPathView(p, kind, IngressBackendView(service, port))


def example(name: str, kind: str) -> dict[str, Any]:
    """The first object of ``kind`` in ``manifests/examples/<name>``."""
    for doc in yaml.safe_load_all((EXAMPLES / name).read_text()):
        if doc and doc.get("kind") == kind:
            return dict(doc)
    raise LookupError(f"{kind} not in {name}")


def seed_service() -> ServiceView:
    raw = example("echoserver.yaml", "Service")
    raw["metadata"] = {**raw["metadata"], "uid": SEED_UID}
    return service_view(raw)
