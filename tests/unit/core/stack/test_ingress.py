"""The Ingress group builder: LBC's listeners, rule order, target groups, conflicts, hands-off."""

from __future__ import annotations

from dataclasses import replace

from lbc.core.stack import names
from lbc.core.stack.ingress import IngressInputs, build_ingress_stack
from lbc.core.stack.ingress_groups import ClassifiedIngress, IngressGroup, explicit_group
from lbc.core.stack.inputs import (
    ExistingLoadBalancer,
    IngressBackendView,
    IngressClassParamsView,
    IngressPathView,
    IngressRuleView,
    IngressView,
    ServicePortView,
    ServiceView,
)
from lbc.core.stack.model import (
    FRONTEND_SG,
    BindingPort,
    BuildError,
    Built,
    ConditionField,
    FixedResponseAction,
    ForwardAction,
    HandsOff,
    IPPermission,
    Matcher,
    Protocol,
    RuleCondition,
    Scheme,
    Stack,
    TargetType,
)

from .stack_fixtures import CONFIG, PRIVATE_SUBNETS, PUBLIC_SUBNETS, path

A = "alb.ingress.kubernetes.io/"


def svc(name: str = "web", *, ns: str = "ns", target: int | str = 8080, **ann: str) -> ServiceView:
    return ServiceView(
        ns,
        name,
        uid=f"uid-{name}",
        type="NodePort",
        annotations=tuple(sorted(ann.items())),
        ports=(ServicePortView("http", "TCP", 80, target, 30080),),
    )


def ing(
    name: str, *paths: IngressPathView, host: str = "", ns: str = "ns", **ann: str
) -> IngressView:
    return IngressView(
        ns,
        name,
        annotations=tuple(sorted(ann.items())),
        class_name="alb",
        rules=(IngressRuleView(host, paths),) if paths else (),
    )


def implicit(ingress: IngressView, **kw: object) -> IngressGroup:
    from lbc.core.stack.ingress_groups import implicit_group

    return IngressGroup(implicit_group(ingress), (ClassifiedIngress(ingress, **kw),), ())  # type: ignore[arg-type]


def build(
    group: IngressGroup, *services: ServiceView, **kw: object
) -> Built | BuildError | HandsOff:
    inputs = IngressInputs(group=group, config=CONFIG, services=services, subnets=PRIVATE_SUBNETS)
    return build_ingress_stack(replace(inputs, **kw))  # type: ignore[arg-type]


def stack_of(outcome: object) -> Stack:
    assert isinstance(outcome, Built), outcome
    return outcome.stack


def test_explicit_group_shares_one_alb_with_rules_in_member_order() -> None:
    first = ing("b", path("/b"), **{A + "group.name": "shared", A + "tags": "team=x"})
    second = ing("a", path("/a"), **{A + "group.name": "shared", A + "tags": "env=dev"})
    group = IngressGroup(
        explicit_group("shared"), (ClassifiedIngress(first), ClassifiedIngress(second)), ()
    )
    stack = stack_of(build(group, svc()))
    lb = stack.load_balancer
    assert lb is not None
    assert lb.name == "k8s-shared-" + names.short_hash("c1", "shared", "internal")
    assert dict(lb.tags)["ingress.k8s.aws/stack"] == "shared"
    assert {"team": "x", "env": "dev"}.items() <= dict(lb.tags).items()
    assert [(r.priority, r.conditions[0].values) for r in stack.rules] == [
        (1, ("/b", "/b/*")),
        (2, ("/a", "/a/*")),
    ]
    assert dict(stack.rules[0].tags)["team"] == "x"
    assert "env" not in dict(stack.rules[0].tags)
    assert [tg.resource_id for tg in stack.target_groups] == ["ns/b-web:80", "ns/a-web:80"]
    assert all(dict(b.labels) == {"ingress.k8s.aws/stack": "shared"} for b in stack.bindings)


def test_members_disagreeing_on_scheme_fail_with_lbc_message() -> None:
    a = ing("a", **{A + "group.name": "g", A + "scheme": "internal"})
    b = ing("b", **{A + "group.name": "g", A + "scheme": "internet-facing"})
    group = IngressGroup(explicit_group("g"), (ClassifiedIngress(a), ClassifiedIngress(b)), ())
    assert build(group) == BuildError("conflicting scheme: map[internal:{} internet-facing:{}]")


def test_members_disagreeing_on_a_tag_fail() -> None:
    a = ing("a", **{A + "group.name": "g", A + "tags": "team=x"})
    b = ing("b", **{A + "group.name": "g", A + "tags": "team=y"})
    group = IngressGroup(explicit_group("g"), (ClassifiedIngress(a), ClassifiedIngress(b)), ())
    assert build(group) == BuildError("conflicting tag team: x | y")


def test_paths_are_ordered_exact_then_longest_prefix_then_implementation_specific() -> None:
    ingress = ing(
        "a",
        path("/impl", "ImplementationSpecific"),
        path("/", "Prefix"),
        path("/long/er/", "Prefix"),
        path("/x", "Exact"),
        host="example.com",
    )
    stack = stack_of(build(implicit(ingress), svc()))
    host = RuleCondition(ConditionField.HOST_HEADER, ("example.com",))
    assert [r.conditions for r in stack.rules] == [
        (host, RuleCondition(ConditionField.PATH_PATTERN, ("/x",))),
        (host, RuleCondition(ConditionField.PATH_PATTERN, ("/long/er", "/long/er/*"))),
        (host, RuleCondition(ConditionField.PATH_PATTERN, ("/*",))),
        (host, RuleCondition(ConditionField.PATH_PATTERN, ("/impl",))),
    ]
    assert [r.resource_id for r in stack.rules] == ["80:1", "80:2", "80:3", "80:4"]
    # Four paths to one backend share one target group.
    assert len(stack.target_groups) == 1


def test_wildcards_in_exact_paths_are_refused() -> None:
    outcome = build(implicit(ing("a", path("/a*", "Exact"))), svc())
    assert outcome == BuildError("ingress: ns/a: exact path shouldn't contain wildcards: /a*")


def test_a_missing_backend_service_answers_503_instead_of_failing_the_group() -> None:
    stack = stack_of(build(implicit(ing("a", path("/", service="gone")))))
    assert stack.rules[0].actions == (
        FixedResponseAction("503", "text/plain", "Backend service does not exist"),
    )
    assert stack.target_groups == ()
    strict = replace(CONFIG, tolerate_missing_backend_service=False)
    outcome = build(implicit(ing("a", path("/", service="gone"))), config=strict)
    assert outcome == BuildError('ingress: ns/a: services "gone" not found')


def test_default_backend_becomes_the_listener_default_action() -> None:
    ingress = replace(ing("a"), default_backend=IngressBackendView("web", "http"))
    stack = stack_of(build(implicit(ingress), svc()))
    (tg,) = stack.target_groups
    assert tg.resource_id == "ns/a-web:http"
    assert stack.listeners[0].default_actions == (ForwardAction(tg.resource_id),)
    assert stack.bindings[0].service_port == "http"
    assert stack.rules == ()


def test_listen_ports_and_inbound_cidrs_shape_listeners_and_frontend_sg() -> None:
    ingress = ing(
        "a",
        path("/"),
        **{
            A + "listen-ports": '[{"HTTP": 8080}, {"HTTP": 80}]',
            A + "inbound-cidrs": "10.0.0.0/8, 192.168.0.0/16",
        },
    )
    stack = stack_of(build(implicit(ingress), svc()))
    assert [(ls.port, ls.protocol) for ls in stack.listeners] == [
        (80, Protocol.HTTP),
        (8080, Protocol.HTTP),
    ]
    assert [r.resource_id for r in stack.rules] == ["80:1", "8080:1"]
    assert stack.security_group is not None
    assert stack.security_group.ingress == (
        IPPermission("tcp", 80, 80, cidr_ipv4="10.0.0.0/8"),
        IPPermission("tcp", 80, 80, cidr_ipv4="192.168.0.0/16"),
        IPPermission("tcp", 8080, 8080, cidr_ipv4="10.0.0.0/8"),
        IPPermission("tcp", 8080, 8080, cidr_ipv4="192.168.0.0/16"),
    )


def test_bad_inbound_cidr_is_a_build_error() -> None:
    outcome = build(implicit(ing("a", **{A + "inbound-cidrs": "10.0.0.0"})))
    assert outcome == BuildError(
        "ingress: ns/a: invalid inbound-cidrs settings on Ingress: ns/a: "
        "invalid CIDR address: 10.0.0.0"
    )


def test_health_check_annotations_on_the_service_win_over_the_ingress() -> None:
    ingress = ing(
        "a",
        path("/"),
        **{A + "healthcheck-path": "/ing", A + "healthcheck-interval-seconds": "20"},
    )
    service = svc(**{A + "healthcheck-path": "/svc", A + "success-codes": "200-299"})
    (tg,) = stack_of(build(implicit(ingress), service)).target_groups
    assert tg.health_check.path == "/svc"
    assert tg.health_check.interval_seconds == 20
    assert tg.health_check.matcher == Matcher(http_code="200-299")


def test_grpc_backends_get_grpc_health_check_defaults() -> None:
    ingress = ing("a", path("/"), **{A + "backend-protocol-version": "GRPC"})
    (tg,) = stack_of(build(implicit(ingress), svc())).target_groups
    assert tg.health_check.path == "/AWS.ALB/healthcheck"
    assert tg.health_check.matcher == Matcher(grpc_code="12")


def test_ip_targets_use_the_target_port_and_a_named_one_gives_port_1() -> None:
    ingress = ing("a", path("/"), **{A + "target-type": "ip"})
    stack = stack_of(build(implicit(ingress), svc(target=8080)))
    assert stack.target_groups[0].port == 8080
    assert stack.target_groups[0].target_type is TargetType.IP
    named = stack_of(build(implicit(ingress), svc(target="web-port")))
    assert named.target_groups[0].port == 1
    assert named.bindings[0].networking is not None
    assert named.bindings[0].networking[0].ports == (BindingPort("TCP", "web-port"),)


def test_a_numeric_health_check_port_is_opened_too() -> None:
    ingress = ing("a", path("/"), **{A + "healthcheck-port": "9000"})
    (tgb,) = stack_of(build(implicit(ingress), svc())).bindings
    assert tgb.networking is not None
    assert [rule.ports for rule in tgb.networking] == [
        (BindingPort("TCP", 30080),),
        (BindingPort("TCP", 9000),),
    ]


def test_instance_targets_need_a_node_port() -> None:
    cluster_ip = replace(svc(), type="ClusterIP", ports=(ServicePortView("http", "TCP", 80, 8080),))
    outcome = build(implicit(ing("a", path("/"))), cluster_ip)
    assert outcome == BuildError(
        "ingress: ns/a: TargetGroup port is empty. When using Instance targets, your service be "
        "must of type 'NodePort' or 'LoadBalancer'"
    )


def test_multi_cluster_flag_falls_back_to_the_backend_service() -> None:
    on_service = svc(**{A + "multi-cluster-target-group": "true"})
    assert stack_of(build(implicit(ing("a", path("/"))), on_service)).bindings[0].multi_cluster
    assert not stack_of(build(implicit(ing("a", path("/"))), svc())).bindings[0].multi_cluster
    bad = ing("a", path("/"), **{A + "multi-cluster-target-group": "yes"})
    outcome = build(implicit(bad), svc())
    assert isinstance(outcome, BuildError)
    assert "failed to parse bool annotation" in outcome.message


def test_target_group_tags_merge_service_over_ingress_and_params_over_both() -> None:
    ingress = ing("a", path("/"), **{A + "tags": "a=ing,b=ing,c=ing"})
    service = svc(**{A + "tags": "b=svc,c=svc"})
    params = IngressClassParamsView("p", tags=(("c", "params"),))
    (tg,) = stack_of(build(implicit(ingress, params=params), service)).target_groups
    assert {k: v for k, v in tg.tags if k in "abc"} == {"a": "ing", "b": "svc", "c": "params"}


def test_default_tags_win_unless_low_priority() -> None:
    ingress = ing("a", **{A + "tags": "owner=team"})
    config = replace(CONFIG, default_tags=(("owner", "platform"),))
    lb = stack_of(build(implicit(ingress), config=config)).load_balancer
    assert lb is not None
    assert dict(lb.tags)["owner"] == "platform"
    low = replace(config, default_tags_low_priority=True)
    lb = stack_of(build(implicit(ingress), config=low)).load_balancer
    assert lb is not None
    assert dict(lb.tags)["owner"] == "team"


def test_external_managed_tag_keys_are_refused() -> None:
    config = replace(CONFIG, external_managed_tags=("cost",))
    outcome = build(implicit(ing("a", **{A + "tags": "cost=1"})), config=config)
    assert outcome == BuildError(
        "failed build tags for Ingress ns/a: external managed tag key cost cannot be specified"
    )


def test_existing_lb_keeps_its_subnets_while_the_scheme_is_unchanged() -> None:
    existing = ExistingLoadBalancer(
        "application", Scheme.INTERNAL, ("subnet-z", "subnet-y"), ("sg-1",)
    )
    kept = stack_of(build(implicit(ing("a")), existing=existing)).load_balancer
    assert kept is not None
    assert kept.subnets == ("subnet-y", "subnet-z")
    public = ing("a", **{A + "scheme": "internet-facing"})
    moved = stack_of(build(implicit(public), existing=existing, subnets=PUBLIC_SUBNETS))
    assert moved.load_balancer is not None
    assert moved.load_balancer.subnets == ("subnet-aaa", "subnet-bbb")


def test_without_backend_sg_the_frontend_sg_is_the_binding_source() -> None:
    config = replace(CONFIG, enable_backend_security_group=False)
    stack = stack_of(build(implicit(ing("a", path("/"))), svc(), config=config))
    assert stack.load_balancer is not None
    assert stack.load_balancer.security_groups == (FRONTEND_SG,)
    assert stack.backend_security_group is None
    assert stack.bindings[0].networking is not None
    assert stack.bindings[0].networking[0].peers[0].security_group == FRONTEND_SG


def test_explicit_load_balancer_name_is_used_as_is_and_checked() -> None:
    named = ing("a", **{A + "load-balancer-name": "my-alb"})
    lb = stack_of(build(implicit(named))).load_balancer
    assert lb is not None
    assert lb.name == "my-alb"
    too_long = ing("a", **{A + "load-balancer-name": "x" * 33})
    assert build(implicit(too_long)) == BuildError(
        "load balancer name cannot be longer than 32 characters"
    )


def test_unsupported_annotations_mean_hands_off_naming_the_keys() -> None:
    ingress = ing("a", path("/"), **{A + "certificate-arn": "arn:aws:acm:x"})
    outcome = build(implicit(ingress), svc(**{A + "target-control-port.web.80": "3000"}))
    assert outcome == HandsOff(
        (A + "certificate-arn", A + "target-control-port.web.80"),
        ("Ingress ns/a", "Service ns/web"),
    )


def test_unsupported_params_fields_mean_hands_off() -> None:
    params = IngressClassParamsView("p", unsupported=("certificateArn",))
    outcome = build(implicit(ing("a"), params=params))
    assert outcome == HandsOff(("certificateArn",), ("IngressClassParams p",))


def test_a_leaving_member_with_unsupported_keys_keeps_the_group_hands_off() -> None:
    leaving = replace(ing("gone", **{A + "ssl-redirect": "443"}), deleting=True)
    group = IngressGroup(explicit_group("g"), (), (leaving,))
    assert isinstance(build(group), HandsOff)


def test_group_without_active_members_builds_the_empty_stack() -> None:
    leaving = replace(ing("gone"), deleting=True)
    group = IngressGroup(explicit_group("g"), (), (leaving,))
    outcome = build(group)
    assert isinstance(outcome, Built)
    assert outcome.stack.empty
    assert outcome.finalizer == "group.ingress.k8s.aws/g"


def test_deletion_protection_on_a_deleting_member_refuses_the_teardown() -> None:
    attrs = {A + "load-balancer-attributes": "deletion_protection.enabled=true"}
    leaving = replace(ing("gone", **attrs), deleting=True)
    group = IngressGroup(explicit_group("g"), (), (leaving,))
    assert build(group) == BuildError(
        "deletion_protection is enabled, cannot delete the ingress: gone"
    )


def test_load_balancer_attributes_are_passed_through_sorted() -> None:
    ingress = ing("a", **{A + "load-balancer-attributes": "idle_timeout.timeout_seconds=120,a=b"})
    lb = stack_of(build(implicit(ingress))).load_balancer
    assert lb is not None
    assert [(a.key, a.value) for a in lb.attributes] == [
        ("a", "b"),
        ("idle_timeout.timeout_seconds", "120"),
    ]


def test_building_twice_gives_equal_stacks() -> None:
    group = implicit(ing("a", path("/"), path("/x", "Exact")))
    assert build(group, svc()) == build(group, svc())


def test_listen_ports_errors_use_lbc_messages() -> None:
    empty = ing("a", **{A + "listen-ports": "[]"})
    assert build(implicit(empty)) == BuildError(
        "ingress: ns/a: empty listen-ports configuration: `[]`"
    )
    bad_port = ing("a", **{A + "listen-ports": '[{"HTTP": 70000}]'})
    assert build(implicit(bad_port)) == BuildError(
        "ingress: ns/a: listen port must be within [1, 65535]: 70000"
    )
    bad_protocol = ing("a", **{A + "listen-ports": '[{"TCP": 80}]'})
    assert build(implicit(bad_protocol)) == BuildError(
        "ingress: ns/a: listen protocol must be within [HTTP, HTTPS]: TCP"
    )
    malformed = build(implicit(ing("a", **{A + "listen-ports": "80"})))
    assert isinstance(malformed, BuildError)
    assert malformed.message.startswith("ingress: ns/a: failed to parse listen-ports configuration")


def test_members_sharing_a_port_must_agree_on_inbound_cidrs() -> None:
    a = ing("a", **{A + "group.name": "g", A + "inbound-cidrs": "10.0.0.0/8"})
    b = ing("b", **{A + "group.name": "g", A + "inbound-cidrs": "192.168.0.0/16"})
    c = ing("c", **{A + "group.name": "g"})
    group = IngressGroup(
        explicit_group("g"),
        (ClassifiedIngress(a), ClassifiedIngress(b), ClassifiedIngress(c)),
        (),
    )
    assert build(group) == BuildError(
        "failed to merge listenPort config for port: 80: conflicting inbound-cidrs, "
        "ns/a: [10.0.0.0/8], [] | ns/b: [192.168.0.0/16], []"
    )
    agreeing = IngressGroup(explicit_group("g"), (ClassifiedIngress(a), ClassifiedIngress(c)), ())
    sg = stack_of(build(agreeing)).security_group
    assert sg is not None
    assert sg.ingress == (IPPermission("tcp", 80, 80, cidr_ipv4="10.0.0.0/8"),)


def test_lbc_written_dry_run_plan_annotation_does_not_block_management() -> None:
    ingress = ing("a", **{A + "dry-run-plan": "{}"})
    assert isinstance(build(implicit(ingress)), Built)


def test_params_target_type_and_scheme_beat_annotations() -> None:
    ingress = ing("a", path("/"), **{A + "target-type": "instance", A + "scheme": "internal"})
    params = IngressClassParamsView("p", target_type="ip", scheme="internet-facing")
    stack = stack_of(build(implicit(ingress, params=params), svc(), subnets=PUBLIC_SUBNETS))
    assert stack.target_groups[0].target_type is TargetType.IP
    assert stack.load_balancer is not None
    assert stack.load_balancer.scheme is Scheme.INTERNET_FACING
