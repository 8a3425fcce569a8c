"""Stack fidelity: NLB rules, tag limits, DNS names and states, JSON-protocol faults."""

from __future__ import annotations

import re
from typing import Any

import botocore.exceptions
import pytest

from lbc_lab.elb_control import LabControlError
from lbc_lab.elb_fixtures import ElbLab
from lbc_lab.elb_scenario import Network

from .stacks import alb, error_of, http_group, nlb, security_group

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_network_load_balancer_rules(
    ec2: Any, elbv2: Any, net: Network, elb_lab: ElbLab
) -> None:
    bare = await nlb(elbv2, net, "bare")
    arn = bare["LoadBalancerArn"]
    zones = await elbv2.set_subnets(LoadBalancerArn=arn, Subnets=[net.subnets[0].subnet_id])
    assert [z["SubnetId"] for z in zones["AvailabilityZones"]] == [net.subnets[0].subnet_id]
    group_id = await security_group(ec2, net, "nlb")
    code, _ = await error_of(
        elbv2.set_security_groups, LoadBalancerArn=arn, SecurityGroups=[group_id]
    )
    assert code == "InvalidConfigurationRequest", "created without security groups: stays so"
    with_groups = await nlb(elbv2, net, "grouped", SecurityGroups=[group_id])
    await elbv2.set_security_groups(
        LoadBalancerArn=with_groups["LoadBalancerArn"], SecurityGroups=[group_id]
    )
    udp = await elbv2.create_target_group(
        Name="dns", Protocol="UDP", Port=53, VpcId=net.vpc_id, TargetType="ip"
    )
    udp_arn = udp["TargetGroups"][0]["TargetGroupArn"]
    listener = await elbv2.create_listener(
        LoadBalancerArn=arn,
        Protocol="UDP",
        Port=53,
        DefaultActions=[{"Type": "forward", "TargetGroupArn": udp_arn}],
    )
    listener_arn = listener["Listeners"][0]["ListenerArn"]
    modified = await elbv2.modify_listener(ListenerArn=listener_arn, Protocol="UDP", Port=5353)
    assert (modified["Listeners"][0]["Protocol"], modified["Listeners"][0]["Port"]) == ("UDP", 5353)
    elb_lab.control.set_fidelity(nlb_rules=False)
    code, _ = await error_of(elbv2.modify_listener, ListenerArn=listener_arn, Protocol="UDP")
    assert code == "UnsupportedProtocol", "moto refuses UDP even when it does not change"
    code, _ = await error_of(
        elbv2.set_subnets, LoadBalancerArn=arn, Subnets=[net.subnets[1].subnet_id]
    )
    assert code == "InvalidConfigurationRequest", "moto wants two zones even for an NLB"


async def test_fifty_tags_counting_those_given_at_create(
    elbv2: Any, net: Network, elb_lab: ElbLab
) -> None:
    created = [{"Key": f"created-{i}", "Value": "x"} for i in range(3)]
    arn = await http_group(elbv2, net, "tagged", Tags=created)
    await elbv2.add_tags(
        ResourceArns=[arn], Tags=[{"Key": f"user-{i}", "Value": "y"} for i in range(47)]
    )
    code, _ = await error_of(
        elbv2.add_tags, ResourceArns=[arn], Tags=[{"Key": "one-more", "Value": "z"}]
    )
    assert code == "TooManyTags"
    await elbv2.add_tags(ResourceArns=[arn], Tags=[{"Key": "user-0", "Value": "changed"}])
    (described,) = (await elbv2.describe_tags(ResourceArns=[arn]))["TagDescriptions"]
    assert len(described["Tags"]) == 50
    elb_lab.control.set_fidelity(tag_limits=False)
    other = await http_group(elbv2, net, "moto", Tags=created)
    await elbv2.add_tags(
        ResourceArns=[other], Tags=[{"Key": f"user-{i}", "Value": "y"} for i in range(7)]
    )
    code, _ = await error_of(
        elbv2.add_tags, ResourceArns=[other], Tags=[{"Key": "eleventh", "Value": "z"}]
    )
    assert code == "TooManyTags", "moto stops at 10"


async def test_describe_tags_takes_twenty_known_arns(
    elbv2: Any, net: Network, elb_lab: ElbLab
) -> None:
    arns = [await http_group(elbv2, net, f"group-{i}") for i in range(21)]
    code, _ = await error_of(elbv2.describe_tags, ResourceArns=arns)
    assert code == "ValidationError"
    assert len((await elbv2.describe_tags(ResourceArns=arns[:20]))["TagDescriptions"]) == 20
    await elbv2.delete_target_group(TargetGroupArn=arns[0])
    code, _ = await error_of(elbv2.describe_tags, ResourceArns=arns[:2])
    assert code == "TargetGroupNotFound"
    elb_lab.control.set_fidelity(tag_limits=False)
    answer = await elbv2.describe_tags(ResourceArns=arns)
    assert {d["ResourceArn"]: d["Tags"] for d in answer["TagDescriptions"]}[arns[0]] == []


async def test_dns_names_have_aws_shapes(ec2: Any, elbv2: Any, net: Network) -> None:
    group_id = await security_group(ec2, net, "web")
    public = await alb(elbv2, net, "k8s-echoserv-echoserv-0a1b2c3d4e", groups=[group_id])
    internal = await alb(elbv2, net, "k8s-internal-web", groups=[group_id], scheme="internal")
    network = await nlb(elbv2, net, "k8s-echoserv-echoserv-5f6a7b8c9d")
    assert re.fullmatch(
        r"k8s-echoserv-echoserv-0a1b2c3d4e-\d{10}\.us-east-1\.elb\.amazonaws\.com",
        public["DNSName"],
    )
    assert re.fullmatch(
        r"internal-k8s-internal-web-\d{10}\.us-east-1\.elb\.amazonaws\.com", internal["DNSName"]
    )
    nlb_id = network["LoadBalancerArn"].rsplit("/", 1)[1]
    assert (
        network["DNSName"]
        == f"k8s-echoserv-echoserv-5f6a7b8c9d-{nlb_id}.elb.us-east-1.amazonaws.com"
    )


async def test_load_balancer_is_provisioning_then_active(
    ec2: Any, elbv2: Any, net: Network, paused: ElbLab
) -> None:
    lb = await alb(elbv2, net, "web", groups=[await security_group(ec2, net, "web")])
    assert lb["State"]["Code"] == "provisioning"

    async def state() -> str:
        (found,) = (await elbv2.describe_load_balancers())["LoadBalancers"]
        code: str = found["State"]["Code"]
        return code

    assert await state() == "provisioning", "still provisioning on the first describe"
    paused.control.advance(10)
    assert await state() == "active"


async def test_injected_fault_on_the_tagging_api_parses(elb_lab: ElbLab) -> None:
    elb_lab.control.throttle("ResourceGroupsTaggingAPI_20170126.GetResources", count=1)
    async with elb_lab.client("resourcegroupstaggingapi", max_attempts=1) as tagging:
        with pytest.raises(botocore.exceptions.ClientError) as caught:
            await tagging.get_resources(ResourceTypeFilters=["elasticloadbalancing:loadbalancer"])
        assert caught.value.response["Error"]["Code"] == "Throttling"
        assert (await tagging.get_resources())["ResourceTagMappingList"] == []


async def test_unknown_fidelity_rule_is_refused(elb_lab: ElbLab) -> None:
    with pytest.raises(LabControlError, match="unknown fidelity rule 'lb_names'"):
        elb_lab.control.set_fidelity(lb_names=False)
    with pytest.raises(LabControlError, match="takes true or false"):
        elb_lab.control.set_fidelity(lb_name_unique=0)
    assert elb_lab.control.fidelity()["lb_name_unique"] is True


async def test_rules_come_back_in_both_forms_as_elbv2_answers(
    ec2: Any, elbv2: Any, net: Network, elb_lab: ElbLab
) -> None:
    lb = await alb(elbv2, net, "web", groups=[await security_group(ec2, net, "web")])
    group = await http_group(elbv2, net, "web")
    listener = await elbv2.create_listener(
        LoadBalancerArn=lb["LoadBalancerArn"],
        Protocol="HTTP",
        Port=80,
        DefaultActions=[
            {
                "Type": "fixed-response",
                "FixedResponseConfig": {"StatusCode": "404", "ContentType": "text/plain"},
            }
        ],
    )
    listener_arn = listener["Listeners"][0]["ListenerArn"]
    assert listener["Listeners"][0]["DefaultActions"][0]["Order"] == 1
    await elbv2.create_rule(
        ListenerArn=listener_arn,
        Priority=1,
        Conditions=[{"Field": "path-pattern", "PathPatternConfig": {"Values": ["/"]}}],
        Actions=[
            {"Type": "forward", "ForwardConfig": {"TargetGroups": [{"TargetGroupArn": group}]}}
        ],
    )
    await elbv2.create_rule(
        ListenerArn=listener_arn,
        Priority=2,
        Conditions=[{"Field": "host-header", "Values": ["echo.example.com"]}],
        Actions=[{"Type": "forward", "TargetGroupArn": group}],
    )
    rules = (await elbv2.describe_rules(ListenerArn=listener_arn))["Rules"]
    by_priority = {r["Priority"]: r for r in rules}
    typed, legacy = by_priority["1"], by_priority["2"]
    assert typed["Conditions"] == [
        {"Field": "path-pattern", "Values": ["/"], "PathPatternConfig": {"Values": ["/"]}}
    ]
    assert legacy["Conditions"] == [
        {
            "Field": "host-header",
            "Values": ["echo.example.com"],
            "HostHeaderConfig": {"Values": ["echo.example.com"]},
        }
    ]
    forward = {
        "Type": "forward",
        "TargetGroupArn": group,
        "Order": 1,
        "ForwardConfig": {
            "TargetGroups": [{"TargetGroupArn": group, "Weight": 1}],
            "TargetGroupStickinessConfig": {"Enabled": False},
        },
    }
    assert typed["Actions"] == [forward]
    assert legacy["Actions"] == [forward]
    elb_lab.control.set_fidelity(rule_shapes=False)
    await elbv2.create_rule(
        ListenerArn=listener_arn,
        Priority=3,
        Conditions=[{"Field": "path-pattern", "PathPatternConfig": {"Values": ["/a"]}}],
        Actions=[{"Type": "forward", "TargetGroupArn": group}],
    )
    rules = (await elbv2.describe_rules(ListenerArn=listener_arn))["Rules"]
    echoed = next(r for r in rules if r["Priority"] == "3")
    assert "Values" not in echoed["Conditions"][0], "moto echoes the request's form"
    assert "ForwardConfig" not in echoed["Actions"][0]


async def test_load_balancer_without_target_groups_describes_none(
    ec2: Any, elbv2: Any, net: Network, elb_lab: ElbLab
) -> None:
    lb = await alb(elbv2, net, "empty", groups=[await security_group(ec2, net, "web")])
    answer = await elbv2.describe_target_groups(LoadBalancerArn=lb["LoadBalancerArn"])
    assert answer["TargetGroups"] == []
    elb_lab.control.set_fidelity(empty_describes=False)
    code, _ = await error_of(elbv2.describe_target_groups, LoadBalancerArn=lb["LoadBalancerArn"])
    assert code == "TargetGroupNotFound"


async def test_target_group_attributes_follow_the_protocol_family(
    elbv2: Any, net: Network, elb_lab: ElbLab
) -> None:
    http = await http_group(elbv2, net, "http")
    tcp = (
        await elbv2.create_target_group(
            Name="tcp", Protocol="TCP", Port=80, VpcId=net.vpc_id, TargetType="ip"
        )
    )["TargetGroups"][0]["TargetGroupArn"]

    def attrs(**values: str) -> list[dict[str, str]]:
        return [{"Key": k.replace("__", "."), "Value": v} for k, v in values.items()]

    code, message = await error_of(
        elbv2.modify_target_group_attributes,
        TargetGroupArn=http,
        Attributes=attrs(proxy_protocol_v2__enabled="true"),
    )
    assert (code, message) == (
        "ValidationError",
        "Target group attribute key 'proxy_protocol_v2.enabled' is not recognized",
    )
    await elbv2.modify_target_group_attributes(
        TargetGroupArn=tcp, Attributes=attrs(proxy_protocol_v2__enabled="true")
    )
    code, _ = await error_of(
        elbv2.modify_target_group_attributes,
        TargetGroupArn=tcp,
        Attributes=attrs(slow_start__duration_seconds="30"),
    )
    assert code == "ValidationError"
    delay = attrs(deregistration_delay__timeout_seconds="3600")
    await elbv2.modify_target_group_attributes(TargetGroupArn=http, Attributes=delay)
    stored = await elbv2.describe_target_group_attributes(TargetGroupArn=http)
    values = {a["Key"]: a["Value"] for a in stored["Attributes"]}
    assert values["deregistration_delay.timeout_seconds"] == "3600"
    code, _ = await error_of(
        elbv2.modify_target_group_attributes,
        TargetGroupArn=http,
        Attributes=attrs(deregistration_delay__timeout_seconds="3601"),
    )
    assert code == "ValidationError"
    elb_lab.control.set_fidelity(tg_attributes=False)
    code, _ = await error_of(
        elbv2.modify_target_group_attributes, TargetGroupArn=http, Attributes=delay
    )
    assert code == "ValidationError", "moto refuses 3600"
    await elbv2.modify_target_group_attributes(
        TargetGroupArn=http, Attributes=attrs(proxy_protocol_v2__enabled="true")
    )


async def test_listeners_forward_only_to_groups_of_a_compatible_protocol(
    ec2: Any, elbv2: Any, net: Network, elb_lab: ElbLab
) -> None:
    network = await nlb(elbv2, net, "nlb")

    async def listen(lb: dict[str, Any], protocol: str, group: str) -> Any:
        return await elbv2.create_listener(
            LoadBalancerArn=lb["LoadBalancerArn"],
            Protocol=protocol,
            Port=80,
            DefaultActions=[{"Type": "forward", "TargetGroupArn": group}],
        )

    http = await http_group(elbv2, net, "http")
    code, _ = await error_of(listen, network, "TCP", http)
    assert code == "IncompatibleProtocols"
    web = await alb(elbv2, net, "web", groups=[await security_group(ec2, net, "web")])
    tcp = (
        await elbv2.create_target_group(
            Name="tcp", Protocol="TCP", Port=80, VpcId=net.vpc_id, TargetType="ip"
        )
    )["TargetGroups"][0]["TargetGroupArn"]
    code, _ = await error_of(listen, web, "HTTP", tcp)
    assert code == "IncompatibleProtocols"
    elb_lab.control.set_fidelity(protocol_match=False)
    await listen(network, "TCP", http)


async def test_unknown_rule_and_listener_arns_are_not_found(
    ec2: Any, elbv2: Any, net: Network, elb_lab: ElbLab
) -> None:
    web = await alb(elbv2, net, "web", groups=[await security_group(ec2, net, "web")])
    group = await http_group(elbv2, net, "web")
    listener = (
        await elbv2.create_listener(
            LoadBalancerArn=web["LoadBalancerArn"],
            Protocol="HTTP",
            Port=80,
            DefaultActions=[{"Type": "forward", "TargetGroupArn": group}],
        )
    )["Listeners"][0]["ListenerArn"]
    gone = listener.rsplit("/", 1)[0] + "/0123456789abcdef"
    code, _ = await error_of(elbv2.describe_listeners, ListenerArns=[listener, gone])
    assert code == "ListenerNotFound"
    rule = listener.replace(":listener/", ":listener-rule/") + "/0123456789abcdef"
    code, _ = await error_of(elbv2.delete_rule, RuleArn=rule)
    assert code == "RuleNotFound"
    elb_lab.control.set_fidelity(not_found=False)
    await elbv2.delete_rule(RuleArn=rule)
    answer = await elbv2.describe_listeners(ListenerArns=[listener, gone])
    assert [li["ListenerArn"] for li in answer["Listeners"]] == [listener]
