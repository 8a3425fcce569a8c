"""The AWS writes of the stack deployer: creates carrying their tags, checked; bounded retries.

Every write goes through :class:`~lbc.aws.calls.AwsCalls` (rate limit, deadline, metrics, error
classification), like the binding controller's. What this module adds:

- **Tags in the create request.** CreateLoadBalancer / CreateTargetGroup / CreateListener /
  CreateRule carry ``Tags`` and CreateSecurityGroup ``TagSpecifications``: LBC's IAM policy
  allows those creates only when the request carries ``elbv2.k8s.aws/cluster``, so create-then-tag
  would be AccessDenied for every LBC user's role.
- **Checked creates.** AWS answers CreateLoadBalancer / CreateTargetGroup with the *existing*
  resource when one with that name and the same settings exists (LBC #2533, #3027: one Service
  silently takes over another's NLB). So a returned ARN that was in the pre-listing of resources
  not ours, or whose tags (read fresh) are not this stack's, raises
  :class:`ForeignResourceError` and the deployer stops the stack, touching nothing more.
- **Deletion retries** as LBC: DeleteTargetGroup on ``ResourceInUse`` every 2 s for up to 20 s (the
  load balancer's deletion takes a moment to release it), DeleteSecurityGroup on
  ``DependencyViolation`` every 2 s for up to 10 s. Sleeps are injected; tests run them in no time.
- **Cache upkeep.** Every tag write drops the inventory's cached tags of the resource; creates,
  modifications and deletes of load balancers and target groups are applied to the cached
  account listing as AWS answered them (a relist per create would make building N stacks cost
  N listings of N resources); security-group changes drop the (one-call) group listing.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final, final

import anyio
from botocore.exceptions import ClientError

from lbc.aws.calls import AwsCalls
from lbc.aws.errors import error_code
from lbc.aws.stack_inventory import StackInventory
from lbc.core.errors import LbcError, NotFoundError, TerminalError, TransientError
from lbc.core.stack.changes import health_check_params
from lbc.core.stack.model import Attribute, IPPermission, LoadBalancer, TargetGroup
from lbc.core.stack.observed import Permission, tags_match
from lbc.core.stack.tags import TagChanges

if TYPE_CHECKING:
    from types_aiobotocore_ec2 import EC2Client
    from types_aiobotocore_elbv2 import ElasticLoadBalancingv2Client

TG_IN_USE_RETRY: Final = (2.0, 20.0)
SG_DEPENDENCY_RETRY: Final = (2.0, 10.0)


class ForeignResourceError(TerminalError):
    """A create was answered with a resource that is not this stack's; nothing more is done."""

    reason = "ForeignResource"


class StillInUseError(TransientError):
    """A delete kept failing because something still uses the resource (retried later)."""

    reason = "ResourceInUse"


def _code(exc: LbcError) -> str:
    cause = exc.__cause__
    return error_code(cause) if isinstance(cause, ClientError) else ""


def _tag_list(tags: Mapping[str, str]) -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in sorted(tags.items())]


def _ip_permission(p: IPPermission | Permission) -> dict[str, Any]:
    perm: dict[str, Any] = {"IpProtocol": p.protocol, "FromPort": p.from_port, "ToPort": p.to_port}
    if isinstance(p, IPPermission):
        if p.cidr_ipv4:
            perm["IpRanges"] = [{"CidrIp": p.cidr_ipv4}]
        elif p.cidr_ipv6:
            perm["Ipv6Ranges"] = [{"CidrIpv6": p.cidr_ipv6}]
        elif p.prefix_list_id:
            perm["PrefixListIds"] = [{"PrefixListId": p.prefix_list_id}]
        return perm
    if p.source_group:
        perm["UserIdGroupPairs"] = [{"GroupId": p.source_group}]
    elif p.cidr and ":" in p.cidr:
        perm["Ipv6Ranges"] = [{"CidrIpv6": p.cidr}]
    elif p.cidr:
        perm["IpRanges"] = [{"CidrIp": p.cidr}]
    return perm


@final
class StackWriter:
    """ELBv2 and EC2 writes of one process's stack deployer (see the module docstring)."""

    def __init__(
        self,
        elbv2: ElasticLoadBalancingv2Client,
        ec2: EC2Client,
        calls: AwsCalls,
        inventory: StackInventory,
        *,
        sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
        tg_in_use_retry: tuple[float, float] = TG_IN_USE_RETRY,
        sg_dependency_retry: tuple[float, float] = SG_DEPENDENCY_RETRY,
    ) -> None:
        self._elbv2 = elbv2
        self._ec2 = ec2
        self._calls = calls
        self.inventory = inventory
        self._sleep = sleep
        self._tg_retry = tg_in_use_retry
        self._sg_retry = sg_dependency_retry
        self.backend_lock = anyio.Lock()
        """Held while the cluster's shared backend group is looked up and maybe created."""

    async def _elb(self, operation: str, method: Any, **params: Any) -> Mapping[str, Any]:
        return await self._calls.call("elbv2", operation, method, **params)

    async def _ec2_call(self, operation: str, method: Any, **params: Any) -> Mapping[str, Any]:
        return await self._calls.call("ec2", operation, method, **params)

    # -- checked creates -------------------------------------------------------------------------

    async def _named_create(
        self, operation: str, method: Any, kind: str, name: str, params: Mapping[str, Any]
    ) -> Mapping[str, Any]:
        try:
            return await self._elb(operation, method, **params)
        except LbcError as exc:
            if _code(exc) in ("DuplicateLoadBalancerName", "DuplicateTargetGroupName"):
                # The name is taken by a resource discovery did not find under this stack's
                # tags: someone else's (or another controller's) resource. Never adopt it.
                raise ForeignResourceError(
                    f"{kind} {name} exists but is not tagged for this stack; lbc stops this "
                    "stack and touches nothing"
                ) from exc
            raise

    async def _check_created(
        self,
        arn: str,
        kind: str,
        name: str,
        foreign: frozenset[str],
        owner: tuple[str, str, str],
    ) -> None:
        if arn in foreign:
            raise ForeignResourceError(
                f"creating {kind} {name} returned {arn}, which existed before and is not this "
                "stack's (same name and settings); lbc stops this stack and touches nothing"
            )
        self.inventory.forget_tags([arn])
        tags = (await self.inventory.tags_of([arn]))[arn]
        if not tags_match(tags, *owner):
            raise ForeignResourceError(
                f"creating {kind} {name} returned {arn}, whose tags are not this stack's; "
                "lbc stops this stack and touches nothing"
            )

    async def create_target_group(
        self,
        spec: TargetGroup,
        vpc_id: str,
        *,
        foreign: frozenset[str],
        owner: tuple[str, str, str],
    ) -> str:
        params: dict[str, Any] = {
            "Name": spec.name,
            "Protocol": spec.protocol.value,
            "Port": spec.port,
            "VpcId": vpc_id,
            "TargetType": spec.target_type.value,
            "IpAddressType": spec.ip_address_type.value,
            "Tags": _tag_list(dict(spec.tags)),
            **health_check_params(spec.health_check),
        }
        if spec.protocol_version is not None:
            params["ProtocolVersion"] = spec.protocol_version.value
        made = await self._named_create(
            "CreateTargetGroup", self._elbv2.create_target_group, "target group", spec.name, params
        )
        arn = str(made["TargetGroups"][0]["TargetGroupArn"])
        self.inventory.put("tgs", made["TargetGroups"][0])
        await self._check_created(arn, "target group", spec.name, foreign, owner)
        if spec.attributes:
            await self.ensure_target_group_attributes(arn, spec.attributes)
        return arn

    async def create_load_balancer(
        self,
        spec: LoadBalancer,
        security_groups: Sequence[str],
        *,
        foreign: frozenset[str],
        owner: tuple[str, str, str],
    ) -> tuple[str, str]:
        """``(ARN, DNS name)`` of the new load balancer."""
        params: dict[str, Any] = {
            "Name": spec.name,
            "Type": spec.type.value,
            "Scheme": spec.scheme.value,
            "IpAddressType": spec.ip_address_type.value,
            "Subnets": list(spec.subnets),
            "Tags": _tag_list(dict(spec.tags)),
        }
        if security_groups:
            params["SecurityGroups"] = list(security_groups)
        made = await self._named_create(
            "CreateLoadBalancer",
            self._elbv2.create_load_balancer,
            "load balancer",
            spec.name,
            params,
        )
        lb = made["LoadBalancers"][0]
        arn = str(lb["LoadBalancerArn"])
        self.inventory.put("lbs", lb)
        await self._check_created(arn, "load balancer", spec.name, foreign, owner)
        if spec.attributes:
            await self.ensure_load_balancer_attributes(arn, spec.attributes)
        return arn, str(lb.get("DNSName", ""))

    async def create_security_group(
        self, name: str, description: str, vpc_id: str, tags: Mapping[str, str]
    ) -> str:
        try:
            made = await self._ec2_call(
                "CreateSecurityGroup",
                self._ec2.create_security_group,
                GroupName=name,
                Description=description,
                VpcId=vpc_id,
                TagSpecifications=[{"ResourceType": "security-group", "Tags": _tag_list(tags)}],
            )
        except LbcError as exc:
            if _code(exc) == "InvalidGroup.Duplicate":
                raise ForeignResourceError(
                    f"security group {name} exists in {vpc_id} without this stack's tags; "
                    "lbc stops this stack and touches nothing"
                ) from exc
            raise
        self.inventory.invalidate("sgs")
        return str(made["GroupId"])

    # -- security groups -------------------------------------------------------------------------

    async def authorize(self, group_id: str, permissions: Iterable[IPPermission]) -> None:
        perms = [_ip_permission(p) for p in permissions]
        if perms:
            await self._ec2_call(
                "AuthorizeSecurityGroupIngress",
                self._ec2.authorize_security_group_ingress,
                GroupId=group_id,
                IpPermissions=perms,
            )
            self.inventory.invalidate("sgs")

    async def revoke(self, group_id: str, permissions: Iterable[Permission]) -> None:
        perms = [_ip_permission(p) for p in permissions]
        if perms:
            await self._ec2_call(
                "RevokeSecurityGroupIngress",
                self._ec2.revoke_security_group_ingress,
                GroupId=group_id,
                IpPermissions=perms,
            )
            self.inventory.invalidate("sgs")

    async def tag_group(self, group_id: str, changes: TagChanges) -> None:
        if changes.add:
            await self._ec2_call(
                "CreateTags",
                self._ec2.create_tags,
                Resources=[group_id],
                Tags=_tag_list(dict(changes.add)),
            )
        if changes.remove:
            await self._ec2_call(
                "DeleteTags",
                self._ec2.delete_tags,
                Resources=[group_id],
                Tags=[{"Key": k} for k in changes.remove],
            )
        if not changes.empty:
            self.inventory.invalidate("sgs")

    async def delete_security_group(self, group_id: str) -> None:
        interval, budget = self._sg_retry
        await self._retrying(
            lambda: self._ec2_call(
                "DeleteSecurityGroup", self._ec2.delete_security_group, GroupId=group_id
            ),
            "DependencyViolation",
            interval,
            budget,
            f"security group {group_id}",
        )
        self.inventory.invalidate("sgs")

    # -- ELBv2 modifications ---------------------------------------------------------------------

    async def tag(self, arn: str, changes: TagChanges) -> None:
        if changes.add:
            await self._elb(
                "AddTags",
                self._elbv2.add_tags,
                ResourceArns=[arn],
                Tags=_tag_list(dict(changes.add)),
            )
        if changes.remove:
            await self._elb(
                "RemoveTags",
                self._elbv2.remove_tags,
                ResourceArns=[arn],
                TagKeys=list(changes.remove),
            )
        if not changes.empty:
            self.inventory.forget_tags([arn])

    async def modify_target_group(self, arn: str, params: Mapping[str, Any]) -> None:
        response = await self._elb(
            "ModifyTargetGroup", self._elbv2.modify_target_group, TargetGroupArn=arn, **params
        )
        self.inventory.put("tgs", response["TargetGroups"][0])

    async def ensure_target_group_attributes(
        self, arn: str, attributes: Sequence[Attribute]
    ) -> bool:
        return await self._ensure_attributes(
            await self.inventory.target_group_attributes(arn),
            attributes,
            "ModifyTargetGroupAttributes",
            self._elbv2.modify_target_group_attributes,
            TargetGroupArn=arn,
        )

    async def ensure_load_balancer_attributes(
        self, arn: str, attributes: Sequence[Attribute]
    ) -> bool:
        return await self._ensure_attributes(
            await self.inventory.load_balancer_attributes(arn),
            attributes,
            "ModifyLoadBalancerAttributes",
            self._elbv2.modify_load_balancer_attributes,
            LoadBalancerArn=arn,
        )

    async def _ensure_attributes(
        self,
        current: Mapping[str, str],
        attributes: Sequence[Attribute],
        operation: str,
        method: Any,
        **arn: str,
    ) -> bool:
        """Whether an attribute differed from ``current`` (then only those were written)."""
        changed = [a for a in attributes if current.get(a.key) != a.value]
        if changed:
            await self._elb(
                operation,
                method,
                **arn,
                Attributes=[{"Key": a.key, "Value": a.value} for a in changed],
            )
        return bool(changed)

    async def set_security_groups(self, arn: str, groups: Sequence[str]) -> None:
        await self._elb(
            "SetSecurityGroups",
            self._elbv2.set_security_groups,
            LoadBalancerArn=arn,
            SecurityGroups=list(groups),
        )
        self.inventory.invalidate("lbs")

    async def set_subnets(self, arn: str, subnets: Sequence[str]) -> None:
        await self._elb(
            "SetSubnets", self._elbv2.set_subnets, LoadBalancerArn=arn, Subnets=list(subnets)
        )
        self.inventory.invalidate("lbs")

    async def create_listener(
        self,
        lb_arn: str,
        port: int,
        protocol: str,
        actions: list[Any],
        tags: Mapping[str, str],
    ) -> str:
        made = await self._elb(
            "CreateListener",
            self._elbv2.create_listener,
            LoadBalancerArn=lb_arn,
            Port=port,
            Protocol=protocol,
            DefaultActions=actions,
            Tags=_tag_list(tags),
        )
        return str(made["Listeners"][0]["ListenerArn"])

    async def modify_listener(
        self, arn: str, *, protocol: str | None, actions: list[Any] | None
    ) -> None:
        params: dict[str, Any] = {"ListenerArn": arn}
        if protocol is not None:
            params["Protocol"] = protocol
        if actions is not None:
            params["DefaultActions"] = actions
        await self._elb("ModifyListener", self._elbv2.modify_listener, **params)

    async def delete_listener(self, arn: str) -> None:
        await self._tolerate_missing(
            self._elb("DeleteListener", self._elbv2.delete_listener, ListenerArn=arn)
        )

    async def create_rule(
        self,
        listener_arn: str,
        priority: int,
        conditions: list[Any],
        actions: list[Any],
        tags: Mapping[str, str],
    ) -> str:
        made = await self._elb(
            "CreateRule",
            self._elbv2.create_rule,
            ListenerArn=listener_arn,
            Priority=priority,
            Conditions=conditions,
            Actions=actions,
            Tags=_tag_list(tags),
        )
        return str(made["Rules"][0]["RuleArn"])

    async def modify_rule(self, arn: str, conditions: list[Any], actions: list[Any]) -> None:
        await self._elb(
            "ModifyRule",
            self._elbv2.modify_rule,
            RuleArn=arn,
            Conditions=conditions,
            Actions=actions,
        )

    async def set_rule_priorities(self, priorities: Sequence[tuple[str, int]]) -> None:
        await self._elb(
            "SetRulePriorities",
            self._elbv2.set_rule_priorities,
            RulePriorities=[{"RuleArn": arn, "Priority": p} for arn, p in priorities],
        )

    async def delete_rule(self, arn: str) -> None:
        await self._tolerate_missing(self._elb("DeleteRule", self._elbv2.delete_rule, RuleArn=arn))

    # -- deletions -------------------------------------------------------------------------------

    async def delete_load_balancer(self, arn: str) -> None:
        await self._tolerate_missing(
            self._elb("DeleteLoadBalancer", self._elbv2.delete_load_balancer, LoadBalancerArn=arn)
        )
        self.inventory.drop("lbs", arn)
        self.inventory.forget_tags([arn])

    async def delete_target_group(self, arn: str) -> None:
        interval, budget = self._tg_retry
        await self._retrying(
            lambda: self._tolerate_missing(
                self._elb("DeleteTargetGroup", self._elbv2.delete_target_group, TargetGroupArn=arn)
            ),
            "ResourceInUse",
            interval,
            budget,
            f"target group {arn}",
        )
        self.inventory.drop("tgs", arn)
        self.inventory.forget_tags([arn])

    async def _retrying(
        self,
        attempt: Callable[[], Awaitable[Any]],
        code: str,
        interval: float,
        budget: float,
        what: str,
    ) -> None:
        waited = 0.0
        while True:
            try:
                await attempt()
            except LbcError as exc:
                if _code(exc) != code:
                    raise
                if waited >= budget:
                    raise StillInUseError(f"{what} still in use after {budget:g}s: {exc}") from exc
                await self._sleep(interval)
                waited += interval
            else:
                return

    @staticmethod
    async def _tolerate_missing(call: Awaitable[Any]) -> None:
        try:
            await call
        except NotFoundError:
            return  # already gone: what the delete wanted
        except LbcError as exc:
            if _code(exc) not in (
                "ListenerNotFound",
                "RuleNotFound",
                "TargetGroupNotFound",
                "LoadBalancerNotFound",
            ):
                raise
