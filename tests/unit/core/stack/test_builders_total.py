"""The builders are total: whatever users write in annotations and specs, a build returns an
outcome (a stack, a build error, hands-off) and never raises into the reconciler."""

from __future__ import annotations

from hypothesis import given, strategies as st
from lbc.core.stack.annotations import INGRESS_SUFFIXES, SERVICE_SUFFIXES
from lbc.core.stack.ingress import IngressInputs, build_ingress_stack
from lbc.core.stack.ingress_groups import ClassifiedIngress, IngressGroup, implicit_group
from lbc.core.stack.inputs import (
    ExistingLoadBalancer,
    IngressBackendView,
    IngressPathView,
    IngressRuleView,
    IngressView,
    ServicePortView,
    ServiceView,
)
from lbc.core.stack.model import BuildError, Built, HandsOff, Scheme, Unclaimed
from lbc.core.stack.service import ServiceInputs, build_service_stack

from .stack_fixtures import CONFIG, PRIVATE_SUBNETS, PUBLIC_SUBNETS

values = st.one_of(
    st.sampled_from(
        [
            "",
            "true",
            "false",
            "yes",
            "10",
            "-1",
            "99999999999",
            "internal",
            "internet-facing",
            "ip",
            "instance",
            "HTTP",
            "HTTPS",
            "GRPC",
            "traffic-port",
            "http",
            "a=b,c=d",
            "=x",
            "a=1,b",
            '[{"HTTP": 8080}]',
            '[{"HTTP": 0}]',
            "[]",
            "null",
            '{"HTTP": 80}',
            "10.0.0.0/8",
            "not-a-cidr",
            "subnet-aaa",
            "subnet-zzz",
            "deletion_protection.enabled=true",
            "dualstack",
        ]
    ),
    st.text(max_size=12),
)
ports = st.one_of(
    st.integers(-1, 70000), st.sampled_from(["http", "use-annotation", "x"]), st.none()
)
ingress_ann = st.dictionaries(
    st.sampled_from(sorted(INGRESS_SUFFIXES)).map(lambda s: "alb.ingress.kubernetes.io/" + s),
    values,
    max_size=6,
)
service_ann = st.dictionaries(
    st.sampled_from(sorted(SERVICE_SUFFIXES)).map(lambda s: "service.beta.kubernetes.io/" + s),
    values,
    max_size=6,
)
path = st.builds(
    IngressPathView,
    path=st.sampled_from(["", "/", "/a", "/a/", "/a*", "/b?"]),
    path_type=st.sampled_from(["Exact", "Prefix", "ImplementationSpecific", "", "Weird"]),
    backend=st.builds(
        IngressBackendView,
        service_name=st.sampled_from(["web", "gone", ""]),
        service_port=ports,
        resource=st.booleans(),
    ),
)
service_port = st.builds(
    ServicePortView,
    name=st.sampled_from(["http", "", "dns"]),
    protocol=st.sampled_from(["TCP", "UDP", "SCTP"]),
    port=st.integers(1, 65535),
    target_port=st.one_of(st.integers(0, 65535), st.sampled_from(["web", ""])),
    node_port=st.integers(0, 32767),
)


def service(
    annotations: dict[str, str], svc_ports: list[ServicePortView], kind: str
) -> ServiceView:
    return ServiceView(
        "ns",
        "web",
        uid="u",
        type=kind,
        annotations=tuple(sorted(annotations.items())),
        ports=tuple(svc_ports),
        external_traffic_policy="Local",
        health_check_node_port=31000,
    )


OUTCOMES = (Built, BuildError, HandsOff, Unclaimed)
existing = st.one_of(
    st.none(),
    st.builds(
        ExistingLoadBalancer,
        type=st.just("network"),
        scheme=st.sampled_from(list(Scheme)),
        subnets=st.just(("subnet-aaa",)),
        security_groups=st.sampled_from([(), ("sg-1",)]),
    ),
)


@given(
    ann=ingress_ann,
    paths=st.lists(path, max_size=4),
    svc_ann=ingress_ann,
    svc_ports=st.lists(service_port, max_size=3),
    kind=st.sampled_from(["NodePort", "ClusterIP", "LoadBalancer"]),
    public=st.booleans(),
)
def test_ingress_builds_never_raise(  # noqa: PLR0917 - hypothesis passes arguments by name
    ann: dict[str, str],
    paths: list[IngressPathView],
    svc_ann: dict[str, str],
    svc_ports: list[ServicePortView],
    kind: str,
    public: bool,
) -> None:
    ingress = IngressView(
        "ns",
        "a",
        annotations=tuple(sorted(ann.items())),
        class_name="alb",
        rules=(IngressRuleView("example.com", tuple(paths)),),
    )
    group = IngressGroup(implicit_group(ingress), (ClassifiedIngress(ingress),), ())
    inputs = IngressInputs(
        group=group,
        config=CONFIG,
        services=(service(svc_ann, svc_ports, kind),),
        subnets=PUBLIC_SUBNETS if public else PRIVATE_SUBNETS,
    )
    assert isinstance(build_ingress_stack(inputs), OUTCOMES)


@given(
    ann=service_ann,
    svc_ports=st.lists(service_port, min_size=1, max_size=3),
    kind=st.sampled_from(["NodePort", "ClusterIP", "LoadBalancer"]),
    found=existing,
    finalized=st.booleans(),
)
def test_service_builds_never_raise(
    ann: dict[str, str],
    svc_ports: list[ServicePortView],
    kind: str,
    found: ExistingLoadBalancer | None,
    finalized: bool,
) -> None:
    view = service(ann, svc_ports, kind)
    if finalized:
        view = ServiceView(
            **{
                **{f: getattr(view, f) for f in view.__slots__},
                "finalizers": ("service.k8s.aws/resources",),
            }  # type: ignore[attr-defined]
        )
    inputs = ServiceInputs(
        service=view, config=CONFIG, subnets=PUBLIC_SUBNETS + PRIVATE_SUBNETS, existing=found
    )
    assert isinstance(build_service_stack(inputs), OUTCOMES)
