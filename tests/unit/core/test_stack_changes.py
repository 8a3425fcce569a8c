"""The stack change planner: LBC's order, pairing by resource-id tag, replacement, safety."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from lbc.core.stack.changes import (
    ApplyBindings,
    CreateListener,
    CreateLoadBalancer,
    CreateRule,
    CreateSecurityGroup,
    CreateTargetGroup,
    DeleteListener,
    DeleteRule,
    DeleteSecurityGroup,
    DeleteTargetGroup,
    DeleteUnwantedBindings,
    PlanError,
    SetRulePriorities,
    UpdateListener,
    UpdateLoadBalancer,
    UpdateRule,
    UpdateTargetGroup,
    plan_changes,
)
from lbc.core.stack.model import (
    BACKEND_SG,
    FRONTEND_SG,
    ConditionField,
    FixedResponseAction,
    ForwardAction,
    HealthCheck,
    IPAddressType,
    IPPermission,
    Listener,
    LoadBalancer,
    LoadBalancerType,
    Matcher,
    Protocol,
    ProtocolVersion,
    Rule,
    RuleCondition,
    Scheme,
    SecurityGroup,
    Stack,
    StackId,
    StackKind,
    TargetGroup,
    TargetType,
    empty_stack,
    tags_of,
)
from lbc.core.stack.observed import (
    ObservedListener,
    ObservedLoadBalancer,
    ObservedRule,
    ObservedSecurityGroup,
    ObservedStack,
    ObservedTargetGroup,
    Permission,
    canonical_actions,
    canonical_conditions,
)

CLUSTER = "c1"
SID = StackId(StackKind.INGRESS, "echoserver", "echoserver")
TG_ID = "echoserver/echoserver-echoserver:80"
VPC = "vpc-1"


def tags(resource: str, **extra: str) -> dict[str, str]:
    return {
        "elbv2.k8s.aws/cluster": CLUSTER,
        "ingress.k8s.aws/stack": SID.value,
        "ingress.k8s.aws/resource": resource,
        **extra,
    }


HC = HealthCheck("traffic-port", Protocol.HTTP, "/", Matcher("200"), 15, 5, 2, 2)


def target_group(rid: str = TG_ID, **kw: Any) -> TargetGroup:
    values: dict[str, Any] = {
        "name": "k8s-echoserv-echoserv-0123456789",
        "target_type": TargetType.INSTANCE,
        "port": 30080,
        "protocol": Protocol.HTTP,
        "protocol_version": ProtocolVersion.HTTP1,
        "ip_address_type": IPAddressType.IPV4,
        "health_check": HC,
        "attributes": (),
        "tags": tags_of(tags(rid)),
        "resource_id": rid,
    }
    values.update(kw)
    return TargetGroup(**values)


def rule(priority: int, path: str, tg: str = TG_ID, port: int = 80) -> Rule:
    return Rule(
        listener_port=port,
        priority=priority,
        conditions=(RuleCondition(ConditionField.PATH_PATTERN, (path,)),),
        actions=(ForwardAction(tg),),
        tags=tags_of(tags(f"{port}:{priority}")),
        resource_id=f"{port}:{priority}",
    )


NOT_FOUND = FixedResponseAction("404")


def seed_stack(**kw: Any) -> Stack:
    values: dict[str, Any] = {
        "id": SID,
        "cluster_name": CLUSTER,
        "tags": SID.stack_tags(CLUSTER),
        "load_balancer": LoadBalancer(
            name="k8s-echoserv-echoserv-aaaaaaaaaa",
            type=LoadBalancerType.APPLICATION,
            scheme=Scheme.INTERNET_FACING,
            ip_address_type=IPAddressType.IPV4,
            subnets=("subnet-1", "subnet-2"),
            security_groups=(FRONTEND_SG, BACKEND_SG),
            attributes=(),
            tags=tags_of(tags("LoadBalancer")),
        ),
        "security_group": SecurityGroup(
            name="k8s-echoserv-echoserv-bbbbbbbbbb",
            description="[k8s] Managed SecurityGroup for LoadBalancer",
            ingress=(IPPermission("tcp", 80, 80, cidr_ipv4="0.0.0.0/0"),),
            tags=tags_of(tags("ManagedLBSecurityGroup")),
        ),
        "listeners": (Listener(80, Protocol.HTTP, (NOT_FOUND,), tags_of(tags("80")), "80"),),
        "rules": (rule(1, "/*"),),
        "target_groups": (target_group(),),
    }
    values.update(kw)
    return Stack(**values)


def observed_tg(rid: str = TG_ID, arn: str = "arn:tg/1", **kw: Any) -> ObservedTargetGroup:
    values: dict[str, Any] = {
        "arn": arn,
        "name": "k8s-echoserv-echoserv-0123456789",
        "target_type": "instance",
        "protocol": "HTTP",
        "protocol_version": "HTTP1",
        "port": 30080,
        "vpc_id": VPC,
        "ip_address_type": "ipv4",
        "health_check": {
            "HealthCheckProtocol": "HTTP",
            "HealthCheckPort": "traffic-port",
            "HealthCheckPath": "/",
            "HealthCheckIntervalSeconds": 15,
            "HealthCheckTimeoutSeconds": 5,
            "HealthyThresholdCount": 2,
            "UnhealthyThresholdCount": 2,
            "Matcher": {"HttpCode": "200"},
        },
        "tags": tags(rid),
    }
    values.update(kw)
    return ObservedTargetGroup(**values)


def observed_rule(priority: int, path: str, tg_arn: str = "arn:tg/1") -> ObservedRule:
    return ObservedRule(
        arn=f"arn:rule/{priority}-{path}",
        priority=priority,
        conditions=canonical_conditions(
            [{"Field": "path-pattern", "PathPatternConfig": {"Values": [path]}}]
        ),
        actions=canonical_actions(
            [{"Type": "forward", "ForwardConfig": {"TargetGroups": [{"TargetGroupArn": tg_arn}]}}]
        ),
        tags=tags(f"80:{priority}"),
    )


def observed_seed(**kw: Any) -> ObservedStack:
    lb = ObservedLoadBalancer(
        arn="arn:lb/1",
        name="k8s-echoserv-echoserv-aaaaaaaaaa",
        type="application",
        scheme="internet-facing",
        dns_name="x.elb.amazonaws.com",
        vpc_id=VPC,
        ip_address_type="ipv4",
        subnets=frozenset({"subnet-1", "subnet-2"}),
        security_groups=frozenset({"sg-front", "sg-back"}),
        tags=tags("LoadBalancer"),
    )
    listener = ObservedListener(
        arn="arn:listener/80",
        port=80,
        protocol="HTTP",
        default_actions=canonical_actions(
            [{"Type": "fixed-response",
              "FixedResponseConfig": {"StatusCode": "404", "ContentType": "text/plain"}}]
        ),
        tags=tags("80"),
        rules=(observed_rule(1, "/*"),),
    )  # fmt: skip
    values: dict[str, Any] = {
        "load_balancers": (lb,),
        "target_groups": (observed_tg(),),
        "security_groups": (
            ObservedSecurityGroup(
                "sg-front",
                "k8s-echoserv-echoserv-bbbbbbbbbb",
                tags("ManagedLBSecurityGroup"),
                frozenset({Permission("tcp", 80, 80, cidr="0.0.0.0/0")}),
            ),
        ),
        "listeners": {"arn:lb/1": (listener,)},
    }
    values.update(kw)
    return ObservedStack(**values)


def plan(stack: Stack, observed: ObservedStack, **kw: Any) -> list[Any]:
    return list(
        plan_changes(
            stack, observed, **{"vpc_id": VPC, "backend_group_id": "sg-back", **kw}
        ).operations
    )


def kinds(ops: list[Any]) -> list[str]:
    return [type(op).__name__ for op in ops]


def test_new_stack_is_created_in_lbc_order() -> None:
    ops = plan(seed_stack(), ObservedStack())
    assert kinds(ops) == [
        "CreateSecurityGroup",
        "CreateTargetGroup",
        "CreateLoadBalancer",
        "CreateListener",
        "CreateRule",
        "DeleteUnwantedBindings",
    ]
    assert isinstance(ops[1], CreateTargetGroup)
    assert ops[1].vpc_id == VPC


def test_unchanged_stack_plans_no_aws_write() -> None:
    result = plan_changes(seed_stack(), observed_seed(), vpc_id=VPC, backend_group_id="sg-back")
    assert result.aws_writes() == ()
    assert result.target_groups == {TG_ID: "arn:tg/1"}
    assert result.load_balancer_arn == "arn:lb/1"
    assert result.frontend_group_id == "sg-front"


def test_rule_response_shapes_of_aws_and_moto_compare_equal() -> None:
    # AWS answers with Order, the top-level ARN, weight and both condition forms.
    aws_shape = ObservedRule(
        arn="arn:rule/1",
        priority=1,
        conditions=canonical_conditions(
            [{"Field": "path-pattern", "Values": ["/*"], "PathPatternConfig": {"Values": ["/*"]}}]
        ),
        actions=canonical_actions(
            [{"Type": "forward", "Order": 1, "TargetGroupArn": "arn:tg/1",
              "ForwardConfig": {"TargetGroups": [{"TargetGroupArn": "arn:tg/1", "Weight": 1}],
                                "TargetGroupStickinessConfig": {"Enabled": False}}}]
        ),
        tags=tags("80:1"),
    )  # fmt: skip
    seen = observed_seed()
    listener = replace(seen.listeners["arn:lb/1"][0], rules=(aws_shape,))
    result = plan_changes(
        seed_stack(),
        replace(seen, listeners={"arn:lb/1": (listener,)}),
        vpc_id=VPC,
        backend_group_id="sg-back",
    )
    assert result.aws_writes() == ()


def test_health_check_change_modifies_the_target_group_in_place() -> None:
    stack = seed_stack(target_groups=(target_group(health_check=replace(HC, path="/healthz")),))
    ops = plan(stack, observed_seed())
    updates = [op for op in ops if isinstance(op, UpdateTargetGroup)]
    assert len(updates) == 1
    assert updates[0].health_check is not None
    assert updates[0].health_check.path == "/healthz"
    assert not any(isinstance(op, CreateTargetGroup | DeleteTargetGroup) for op in ops)


def test_target_type_change_replaces_the_group_new_first_old_deleted_last() -> None:
    stack = seed_stack(target_groups=(target_group(target_type=TargetType.IP, port=8080),))
    ops = plan(stack, observed_seed())
    names = kinds(ops)
    create = names.index("CreateTargetGroup")
    modify_rule = next(i for i, op in enumerate(ops) if isinstance(op, UpdateRule) and op.rewrite)
    bindings = names.index("ApplyBindings") if "ApplyBindings" in names else modify_rule
    delete = names.index("DeleteTargetGroup")
    assert create < modify_rule <= max(bindings, modify_rule) < delete
    assert names[-1] == "DeleteTargetGroup"
    assert names.index("DeleteUnwantedBindings") < delete
    deleted = ops[delete]
    assert isinstance(deleted, DeleteTargetGroup)
    assert deleted.arn == "arn:tg/1"


@pytest.mark.parametrize(
    ("field", "value"),
    [("protocol", Protocol.HTTPS), ("protocol_version", ProtocolVersion.GRPC)],
)
def test_protocol_changes_replace_the_group(field: str, value: Any) -> None:
    stack = seed_stack(target_groups=(target_group(**{field: value}),))
    assert {"CreateTargetGroup", "DeleteTargetGroup"} <= set(kinds(plan(stack, observed_seed())))


def test_scheme_change_deletes_the_load_balancer_before_creating_it() -> None:
    stack = seed_stack()
    assert stack.load_balancer is not None
    stack = replace(stack, load_balancer=replace(stack.load_balancer, scheme=Scheme.INTERNAL))
    names = kinds(plan(stack, observed_seed()))
    assert names.index("DeleteLoadBalancer") < names.index("CreateLoadBalancer")
    # The old load balancer's listeners went with it: the new one gets all of its own.
    assert "DeleteListener" not in names
    assert names.count("CreateListener") == 1
    assert names.count("CreateRule") == 1


def test_empty_stack_deletes_everything_owned_in_reverse_order() -> None:
    ops = plan(empty_stack(SID, CLUSTER), observed_seed())
    assert kinds(ops) == [
        "DeleteLoadBalancer",
        "DeleteUnwantedBindings",
        "DeleteTargetGroup",
        "DeleteSecurityGroup",
    ]


def test_a_resource_without_this_clusters_tag_is_never_planned_for_deletion() -> None:
    foreign = observed_tg(arn="arn:tg/foreign", tags={**tags(TG_ID), "elbv2.k8s.aws/cluster": "c2"})
    with pytest.raises(PlanError):
        plan(empty_stack(SID, CLUSTER), ObservedStack(target_groups=(foreign,)))
    other_stack = observed_tg(
        arn="arn:tg/other", tags={**tags(TG_ID), "ingress.k8s.aws/stack": "x"}
    )
    with pytest.raises(PlanError):
        plan(empty_stack(SID, CLUSTER), ObservedStack(target_groups=(other_stack,)))


def test_a_tagged_resource_without_resource_id_stops_the_plan() -> None:
    bare = {k: v for k, v in tags(TG_ID).items() if k != "ingress.k8s.aws/resource"}
    with pytest.raises(PlanError, match="resource"):
        plan(seed_stack(), replace(observed_seed(), target_groups=(observed_tg(tags=bare),)))


def test_legacy_and_external_tags_are_left_alone() -> None:
    seen = observed_seed()
    tg = observed_tg(
        tags={**tags(TG_ID), "ingress.k8s.aws/cluster": CLUSTER, "kubernetes.io/namespace": "x",
              "cost-center": "42", "stale": "1"}
    )  # fmt: skip
    ops = plan(seed_stack(), replace(seen, target_groups=(tg,)), external_tags=["cost-center"])
    (update,) = [op for op in ops if isinstance(op, UpdateTargetGroup)]
    assert update.tags.remove == ("stale",)
    assert update.tags.add == ()


def test_user_tag_change_is_one_tag_update() -> None:
    stack = seed_stack(target_groups=(target_group(tags=tags_of(tags(TG_ID, Team="web"))),))
    (update,) = [op for op in plan(stack, observed_seed()) if isinstance(op, UpdateTargetGroup)]
    assert dict(update.tags.add) == {"Team": "web"}
    assert update.health_check is None


def test_listeners_are_paired_by_port() -> None:
    stack = seed_stack(
        listeners=(Listener(8080, Protocol.HTTP, (NOT_FOUND,), tags_of(tags("8080")), "8080"),),
        rules=(rule(1, "/*", port=8080),),
    )
    ops = plan(stack, observed_seed())
    names = kinds(ops)
    assert names.index("DeleteListener") < names.index("CreateListener")
    deleted = next(op for op in ops if isinstance(op, DeleteListener))
    assert deleted.port == 80
    created = next(op for op in ops if isinstance(op, CreateListener))
    assert created.port == 8080


def test_default_action_change_modifies_the_listener() -> None:
    stack = seed_stack(
        listeners=(
            Listener(80, Protocol.HTTP, (FixedResponseAction("503"),), tags_of(tags("80")), "80"),
        )
    )
    (update,) = [op for op in plan(stack, observed_seed()) if isinstance(op, UpdateListener)]
    assert update.default_actions == (FixedResponseAction("503"),)


def test_identical_rules_are_only_reprioritised() -> None:
    seen = observed_seed()
    listener = replace(
        seen.listeners["arn:lb/1"][0], rules=(observed_rule(1, "/a"), observed_rule(2, "/b"))
    )
    stack = seed_stack(rules=(rule(1, "/b"), rule(2, "/a")))
    ops = plan(stack, replace(seen, listeners={"arn:lb/1": (listener,)}))
    (move,) = [op for op in ops if isinstance(op, SetRulePriorities)]
    assert dict(move.priorities) == {"arn:rule/1-/a": 2, "arn:rule/2-/b": 1}
    assert not any(isinstance(op, CreateRule | DeleteRule) for op in ops)
    assert not any(isinstance(op, UpdateRule) and op.rewrite for op in ops)


def test_changed_rule_at_same_priority_is_modified_in_place() -> None:
    ops = plan(seed_stack(rules=(rule(1, "/api/*"),)), observed_seed())
    (update,) = [op for op in ops if isinstance(op, UpdateRule)]
    assert update.rewrite
    assert update.arn == "arn:rule/1-/*"
    assert not any(isinstance(op, CreateRule | DeleteRule) for op in ops)


def test_new_rules_are_created_before_old_ones_are_deleted() -> None:
    seen = observed_seed()
    listener = replace(
        seen.listeners["arn:lb/1"][0], rules=(observed_rule(1, "/*"), observed_rule(2, "/old"))
    )
    stack = seed_stack(rules=(rule(1, "/*"), rule(3, "/new")))
    names = kinds(plan(stack, replace(seen, listeners={"arn:lb/1": (listener,)})))
    assert names.index("CreateRule") < names.index("DeleteRule")


def test_a_moved_rule_displaces_a_doomed_rule_in_the_same_call() -> None:
    seen = observed_seed()
    listener = replace(
        seen.listeners["arn:lb/1"][0], rules=(observed_rule(1, "/gone"), observed_rule(2, "/*"))
    )
    # "/*" moves to 1; "/gone" (to be deleted) holds 1 and has no desired twin at its priority
    # because priority 1 is taken by the identity match.
    stack = seed_stack(rules=(rule(1, "/*"),))
    ops = plan(stack, replace(seen, listeners={"arn:lb/1": (listener,)}))
    (move,) = [op for op in ops if isinstance(op, SetRulePriorities)]
    moved = dict(move.priorities)
    assert moved["arn:rule/2-/*"] == 1
    assert moved["arn:rule/1-/gone"] not in (1, 2)
    assert any(isinstance(op, DeleteRule) and op.arn == "arn:rule/1-/gone" for op in ops)


def test_security_group_rules_are_owned_completely() -> None:
    seen = observed_seed()
    group = replace(
        seen.security_groups[0],
        inbound=frozenset(
            {
                Permission("tcp", 80, 80, cidr="0.0.0.0/0"),
                Permission("tcp", 22, 22, cidr="1.2.3.4/32"),
            }
        ),
    )
    stack = seed_stack()
    assert stack.security_group is not None
    stack = replace(
        stack,
        security_group=replace(
            stack.security_group,
            ingress=(*stack.security_group.ingress, IPPermission("tcp", 8080, 8080, "0.0.0.0/0")),
        ),
    )
    ops = plan(stack, replace(seen, security_groups=(group,)))
    (update,) = [op for op in ops if type(op).__name__ == "UpdateSecurityGroup"]
    assert update.authorize == (IPPermission("tcp", 8080, 8080, "0.0.0.0/0"),)
    assert update.revoke == (Permission("tcp", 22, 22, cidr="1.2.3.4/32"),)


def test_extra_security_groups_of_one_resource_id_are_deleted_after_the_rest() -> None:
    seen = observed_seed()
    twin = replace(seen.security_groups[0], group_id="sg-twin")
    ops = plan(seed_stack(), replace(seen, security_groups=(seen.security_groups[0], twin)))
    assert kinds(ops)[-1] == "DeleteSecurityGroup"
    deleted = ops[-1]
    assert isinstance(deleted, DeleteSecurityGroup)
    assert deleted.group_id == "sg-twin"


def test_two_load_balancers_under_one_resource_id_stop_the_plan() -> None:
    seen = observed_seed()
    twin = replace(seen.load_balancers[0], arn="arn:lb/2")
    with pytest.raises(PlanError, match="load balancers"):
        plan(seed_stack(), replace(seen, load_balancers=(seen.load_balancers[0], twin)))


def test_subnet_change_is_an_update() -> None:
    stack = seed_stack()
    assert stack.load_balancer is not None
    lb = replace(stack.load_balancer, subnets=("subnet-1", "subnet-3"))
    (update,) = [
        op
        for op in plan(replace(stack, load_balancer=lb), observed_seed())
        if isinstance(op, UpdateLoadBalancer)
    ]
    assert update.subnets == ("subnet-1", "subnet-3")


def test_bindings_are_applied_after_rules_and_pruned_first_in_the_post_phase() -> None:
    from lbc.core.stack.model import TargetGroupBinding

    binding = TargetGroupBinding(
        name="k8s-echoserv-echoserv-0123456789",
        namespace="echoserver",
        labels=SID.binding_labels(),
        target_group_id=TG_ID,
        target_type=TargetType.INSTANCE,
        service_name="echoserver",
        service_port=80,
        networking=None,
        node_selector=(),
        ip_address_type=IPAddressType.IPV4,
        vpc_id=VPC,
        multi_cluster=True,
        target_group_protocol=Protocol.HTTP,
    )
    ops = plan(seed_stack(bindings=(binding,)), ObservedStack())
    names = kinds(ops)
    assert names.index("CreateRule") < names.index("ApplyBindings")
    assert isinstance(ops[-1], DeleteUnwantedBindings)
    assert any(isinstance(op, ApplyBindings) for op in ops)
    assert any(isinstance(op, CreateSecurityGroup) for op in ops)
    assert any(isinstance(op, CreateLoadBalancer) for op in ops)
