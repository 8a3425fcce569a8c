"""The seed example (manifests/examples/ingress-echoserver.yaml) builds LBC's exact stack."""

from __future__ import annotations

from lbc.core.stack import names
from lbc.core.stack.ingress import IngressInputs, build_ingress_stack
from lbc.core.stack.ingress_groups import IngressCatalog, claim, implicit_group, load_group
from lbc.core.stack.inputs import IngressClassView
from lbc.core.stack.model import (
    BACKEND_SG,
    FRONTEND_SG,
    Built,
    ConditionField,
    FixedResponseAction,
    ForwardAction,
    HealthCheck,
    IPPermission,
    LoadBalancerType,
    Matcher,
    Protocol,
    ProtocolVersion,
    RuleCondition,
    Scheme,
    TargetType,
)
from lbc.core.stack.views import ingress_view

from .stack_fixtures import (
    CONFIG,
    LB_BACKEND,
    PUBLIC_SUBNETS,
    SEED_UID,
    example,
    seed_service,
    tcp_from,
)

CATALOG = IngressCatalog([IngressClassView("alb", "ingress.k8s.aws/alb")])
TRACKING = {
    "elbv2.k8s.aws/cluster": "c1",
    "ingress.k8s.aws/stack": "echoserver/echoserver",
}
USER = {"Environment": "dev", "Team": "test"}


def build_seed() -> Built:
    ingress = ingress_view(example("ingress-echoserver.yaml", "Ingress"))
    assert claim(ingress, CATALOG, "alb") is not None
    group = load_group(implicit_group(ingress), [ingress], CATALOG, "alb")
    assert not isinstance(group, type(None))
    outcome = build_ingress_stack(
        IngressInputs(
            group=group,  # type: ignore[arg-type]
            config=CONFIG,
            services=(seed_service(),),
            subnets=PUBLIC_SUBNETS,
        )
    )
    assert isinstance(outcome, Built), outcome
    return outcome


def test_seed_alb_is_named_and_tagged_like_lbc() -> None:
    stack = build_seed().stack
    lb = stack.load_balancer
    assert lb is not None
    h = names.short_hash("c1", "echoserver/echoserver", "internet-facing")
    assert lb.name == f"k8s-echoserv-echoserv-{h}"
    assert lb.type is LoadBalancerType.APPLICATION
    assert lb.scheme is Scheme.INTERNET_FACING
    assert lb.subnets == ("subnet-aaa", "subnet-bbb")
    assert lb.security_groups == (FRONTEND_SG, BACKEND_SG)
    assert dict(lb.tags) == {**TRACKING, "ingress.k8s.aws/resource": "LoadBalancer", **USER}
    assert dict(stack.tags) == TRACKING


def test_seed_frontend_sg_opens_the_listen_port_to_the_world() -> None:
    stack = build_seed().stack
    sg = stack.security_group
    assert sg is not None
    assert sg.name == "k8s-echoserv-echoserv-" + names.short_hash("c1", "echoserver/echoserver")
    assert sg.description == "[k8s] Managed SecurityGroup for LoadBalancer"
    assert sg.ingress == (IPPermission("tcp", 80, 80, cidr_ipv4="0.0.0.0/0"),)
    assert dict(sg.tags)["ingress.k8s.aws/resource"] == "ManagedLBSecurityGroup"
    backend = stack.backend_security_group
    assert backend is not None
    assert backend.name == "k8s-traffic-c1-" + names.short_hash("c1")
    assert dict(backend.tags) == {
        "elbv2.k8s.aws/cluster": "c1",
        "elbv2.k8s.aws/resource": "backend-sg",
    }


def test_seed_listener_and_rule() -> None:
    stack = build_seed().stack
    (listener,) = stack.listeners
    assert (listener.port, listener.protocol, listener.resource_id) == (80, Protocol.HTTP, "80")
    assert listener.default_actions == (FixedResponseAction("404", "text/plain"),)
    assert dict(listener.tags) == {**TRACKING, "ingress.k8s.aws/resource": "80", **USER}
    (rule,) = stack.rules
    tg_id = "echoserver/echoserver-echoserver:80"
    assert (rule.listener_port, rule.priority, rule.resource_id) == (80, 1, "80:1")
    assert rule.conditions == (RuleCondition(ConditionField.PATH_PATTERN, ("/",)),)
    assert rule.actions == (ForwardAction(tg_id),)
    assert dict(rule.tags) == {**TRACKING, "ingress.k8s.aws/resource": "80:1", **USER}


def test_seed_target_group() -> None:
    stack = build_seed().stack
    (tg,) = stack.target_groups
    assert tg.resource_id == "echoserver/echoserver-echoserver:80"
    assert tg.name == names.ingress_target_group_name(
        "c1",
        stack.id,
        ingress_namespace="echoserver",
        ingress_name="echoserver",
        service_namespace="echoserver",
        service_name="echoserver",
        service_uid=SEED_UID,
        backend_port=80,
        target_group_port=32197,
        target_type="instance",
        protocol="HTTP",
        protocol_version="HTTP1",
    )
    assert tg.name.startswith("k8s-echoserv-echoserv-")
    assert (tg.target_type, tg.port, tg.protocol, tg.protocol_version) == (
        TargetType.INSTANCE,
        32197,
        Protocol.HTTP,
        ProtocolVersion.HTTP1,
    )
    assert tg.health_check == HealthCheck(
        port="traffic-port",
        protocol=Protocol.HTTP,
        path="/",
        matcher=Matcher(http_code="200"),
        interval_seconds=15,
        timeout_seconds=5,
        healthy_threshold=2,
        unhealthy_threshold=2,
    )
    assert tg.attributes == ()
    assert dict(tg.tags) == {**TRACKING, "ingress.k8s.aws/resource": tg.resource_id, **USER}


def test_seed_binding_is_the_multicluster_binding_the_document_shows() -> None:
    built = build_seed()
    stack = built.stack
    (tgb,) = stack.bindings
    (tg,) = stack.target_groups
    assert (tgb.namespace, tgb.name) == ("echoserver", tg.name)
    assert dict(tgb.labels) == {
        "ingress.k8s.aws/stack-namespace": "echoserver",
        "ingress.k8s.aws/stack-name": "echoserver",
    }
    assert tgb.target_group_id == tg.resource_id
    assert (tgb.service_name, tgb.service_port) == ("echoserver", 80)
    assert tgb.target_type is TargetType.INSTANCE
    assert tgb.networking == (tcp_from(LB_BACKEND, 32197),)
    assert tgb.multi_cluster is True
    assert tgb.vpc_id == "vpc-0123456789abcdef0"
    assert tgb.target_group_protocol is Protocol.HTTP
    assert tgb.node_selector == ()
    assert built.finalizer == "ingress.k8s.aws/resources"
