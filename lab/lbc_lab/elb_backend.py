"""The fidelity layer: moto's ELBv2 backend, extended where it differs from real ELBv2.

moto stays the source of truth for load balancers, listeners, target groups and EC2. This
subclass takes over only the three target operations (RegisterTargets, DeregisterTargets,
DescribeTargetHealth) and target-group ARN validation:

- targets are kept in a :class:`~lbc_lab.elb_targets.TargetTable` per group, keyed by
  ``(id, port)``, with lazily computed health (initial → healthy, draining, unused);
- registration is validated as AWS does: instance targets must exist in the group's VPC and be
  running (``InvalidTarget``), the id must match the group's target type (``ValidationError``),
  an ip target outside the VPC's subnets needs AvailabilityZone ``all`` (one of the VPC's zones
  when the group's ``load_balancing.cross_zone.enabled`` is ``false``, as for an ALB with
  cross-zone off) and one inside must not have it (``ValidationError``), a group holds at most
  ``target_quota`` targets (``TooManyTargets``), an ARN must be well formed
  (``ValidationError``) and name an existing group (``TargetGroupNotFound``). A call that fails
  validation changes nothing.

Errors are moto ``ServiceException`` s, which moto's server renders in the query protocol's XML
error shape, so botocore classifies them as AWS would.

The backend class is created per lab by :func:`backend_class`, which binds it to the lab's
:class:`LabState`; moto instantiates it per account and region.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field, replace
from typing import Any

from lbc.core.targets import HealthState, TargetHealth
from moto.ec2.models import ec2_backends
from moto.elbv2.exceptions import ELBClientError
from moto.elbv2.models import ELBv2Backend

from lbc_lab.elb_attributes import AttributeFidelity
from lbc_lab.elb_checks import CheckFidelity
from lbc_lab.elb_clock import LabClock
from lbc_lab.elb_health import (
    NOT_REGISTERED,
    HealthTiming,
    TargetRecord,
    health_at,
    observed,
)
from lbc_lab.elb_rules import StackRules
from lbc_lab.elb_shapes import ShapeFidelity
from lbc_lab.elb_stacks import StackFidelity
from lbc_lab.elb_tagging import TagFidelity
from lbc_lab.elb_targets import HealthOverride, HealthOverrides, TargetTable

DEFAULT_TARGET_QUOTA = 1000
DEFAULT_REGISTRATION_SECONDS = 10.0

_TARGET_GROUP_ARN = re.compile(
    r"^arn:aws[a-z-]*:elasticloadbalancing:[a-z0-9-]+:\d{12}:targetgroup/[A-Za-z0-9-]{1,32}/[0-9a-f]{16}$"
)
_INSTANCE_ID = re.compile(r"^i-[0-9a-f]{8,17}$")
# Where ELBv2 accepts ip targets that are outside the group's VPC (RFC 1918 and RFC 6598).
_OUTSIDE_VPC_RANGES = tuple(
    ipaddress.ip_network(n)
    for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10")
)


def _fail(code: str, message: str) -> ELBClientError:
    return ELBClientError(code, message)


@dataclass
class LabSettings:
    """Knobs of the fidelity layer that the control plane may turn."""

    target_quota: int = DEFAULT_TARGET_QUOTA
    registration_seconds: float = DEFAULT_REGISTRATION_SECONDS
    #: The stack fidelity rules (``elb_rules``), all on unless a test turns one off.
    stacks: StackRules = field(default_factory=StackRules)


@dataclass
class LabState:
    """Lab-wide state read by every backend instance (one per account and region)."""

    clock: LabClock = field(default_factory=LabClock)
    settings: LabSettings = field(default_factory=LabSettings)
    overrides: HealthOverrides = field(default_factory=HealthOverrides)

    def reset(self) -> None:
        self.settings = LabSettings()
        self.overrides.clear()


@dataclass(frozen=True, slots=True)
class _Wanted:
    """One entry of a request's ``Targets`` list, with the port defaulted."""

    target_id: str
    port: int
    zone: str | None
    server_id: str = ""

    @property
    def key(self) -> tuple[str, int]:
        return (self.target_id, self.port)


class LabElbv2Backend(
    ShapeFidelity, CheckFidelity, TagFidelity, AttributeFidelity, StackFidelity, ELBv2Backend
):
    """moto's ELBv2 backend with (id, port) targets, real health states and AWS validation;
    the stack rules (``elb_shapes``, ``elb_checks``, ``elb_tagging``, ``elb_attributes``,
    ``elb_stacks``) come first in the method order."""

    lab: LabState

    def __init__(self, region_name: str, account_id: str) -> None:
        super().__init__(region_name, account_id)
        self.target_tables: dict[str, TargetTable] = {}

    # -- target groups --------------------------------------------------------------------------

    def _group(self, target_group_arn: str | None) -> Any:
        arn = target_group_arn or ""
        if not _TARGET_GROUP_ARN.match(arn):
            raise _fail("ValidationError", f"'{arn}' is not a valid target group ARN")
        group = self.target_groups.get(arn)
        if group is None:
            raise _fail("TargetGroupNotFound", "One or more target groups not found")
        return group

    def _table(self, group: Any) -> TargetTable:
        table = self.target_tables.get(group.arn)
        if table is None:
            table = self.target_tables[group.arn] = TargetTable(group.arn)
        table.purge(self.lab.clock.now(), _drain_seconds(group))
        return table

    def describe_target_groups(
        self,
        load_balancer_arn: str | None,
        target_group_arns: list[str],
        names: list[str] | None,
    ) -> Any:
        for arn in target_group_arns or ():
            if not _TARGET_GROUP_ARN.match(arn):
                raise _fail("ValidationError", f"'{arn}' is not a valid target group ARN")
        return super().describe_target_groups(load_balancer_arn, target_group_arns, names)

    def delete_target_group(self, target_group_arn: str) -> Any:
        group = super().delete_target_group(target_group_arn)
        self.target_tables.pop(target_group_arn, None)
        return group

    def timing(self, group: Any) -> HealthTiming:
        return HealthTiming(
            registration_seconds=self.lab.settings.registration_seconds,
            interval=float(group.health_check_interval_seconds or 30),
            healthy_threshold=int(group.healthy_threshold_count or 5),
            unhealthy_threshold=int(group.unhealthy_threshold_count or 2),
            enabled=bool(group.health_check_enabled),
        )

    def create_target_group(self, name: str, **kwargs: Any) -> Any:
        """moto refuses the QUIC protocols; the lab makes the group as UDP (TCP_UDP for
        TCP_QUIC) and gives it its real protocol, which is all the target operations read."""
        protocol = kwargs.get("protocol")
        if protocol not in _QUIC_PROTOCOLS:
            return super().create_target_group(name, **kwargs)
        kwargs["protocol"] = "UDP" if protocol == "QUIC" else "TCP_UDP"
        kwargs.setdefault("healthcheck_protocol", "TCP")
        group = super().create_target_group(name, **kwargs)
        group.protocol = protocol
        return group

    # -- the three target operations ------------------------------------------------------------

    def register_targets(self, target_group_arn: str, instances: list[Any]) -> None:
        group = self._group(target_group_arn)
        wanted = self._parse(group, instances)
        if group.target_type == "instance":
            self._check_instances(group, wanted)
        elif group.target_type == "ip":
            wanted = self._check_ips(group, wanted)
        table = self._table(group)
        new = {w.key for w in wanted if _is_new(table.get(w.key))}
        if table.active_count() + len(new) > self.lab.settings.target_quota:
            raise _fail("TooManyTargets", "You've reached the limit on the number of targets.")
        table.register(
            ((w.target_id, w.port, w.zone, w.server_id) for w in wanted),
            self.lab.clock.now(),
            self.lab.overrides,
        )

    def deregister_targets(self, target_group_arn: str, instances: list[dict[str, Any]]) -> None:
        group = self._group(target_group_arn)
        wanted = self._parse(group, instances)
        table = self._table(group)
        if group.target_type == "instance":
            known = self._instances()
            for w in wanted:
                if w.target_id not in known and not table.with_id(w.target_id):
                    raise _fail("InvalidTarget", _INVALID_TARGET)
        table.deregister((w.key for w in wanted), self.lab.clock.now())

    def describe_target_health(
        self, target_group_arn: str, targets: list[dict[str, Any]]
    ) -> list[Any]:  # dicts in the response's shape, which moto's serializer accepts
        group = self._group(target_group_arn)
        table = self._table(group)
        now = self.lab.clock.now()
        timing = self.timing(group)
        drain = _drain_seconds(group)
        in_use = bool(group.load_balancer_arns)
        instances = self._instances() if group.target_type == "instance" else {}
        out: list[dict[str, Any]] = []

        def describe(record: TargetRecord) -> None:
            health = health_at(record, now, timing, drain_seconds=drain, in_use=in_use)
            if health is None:
                return
            instance = instances.get(record.target_id)
            if instance is not None and instance.state != "running" and not health.draining:
                health = observed(
                    HealthState.UNUSED,
                    "Target.InvalidState",
                    f"Target is in the {instance.state} state",
                )
            out.append(
                _description(
                    group,
                    record.target_id,
                    record.port,
                    record.availability_zone,
                    health,
                    server_id=record.server_id,
                )
            )

        if not targets:
            for record in table.records():
                describe(record)
            return out
        for entry in targets:
            target_id = str(entry.get("Id", ""))
            if entry.get("Port") is not None:
                exact = table.get((target_id, int(entry["Port"])))
                matched = [exact] if exact is not None else []
            else:
                matched = table.with_id(target_id)
            before = len(out)
            for record in matched:
                describe(record)
            if len(out) == before:
                port = int(entry.get("Port") or group.port or 0)
                out.append(
                    _description(
                        group, target_id, port, entry.get("AvailabilityZone"), NOT_REGISTERED
                    )
                )
        return out

    def notify_terminate_instances(self, instance_ids: list[str]) -> None:
        """EC2 terminated instances: ELBv2 deregisters them, so they drain like any other."""
        gone_ids = set(instance_ids)
        now = self.lab.clock.now()
        for table in self.target_tables.values():
            table.deregister((r.key for r in table.records() if r.target_id in gone_ids), now)

    # -- control plane --------------------------------------------------------------------------

    def apply_override(self, rule: HealthOverride) -> int:
        """Apply ``rule`` to the registered targets of every group it matches."""
        now = self.lab.clock.now()
        changed = 0
        for arn, table in self.target_tables.items():
            group = self.target_groups.get(arn)
            if group is not None:
                changed += table.apply(rule, now, self.timing(group))
        return changed

    # -- validation -----------------------------------------------------------------------------

    def _parse(self, group: Any, entries: list[Any]) -> list[_Wanted]:
        if not entries:
            raise _fail("ValidationError", "Targets must contain at least one target")
        wanted: list[_Wanted] = []
        for entry in entries:
            target_id = entry.get("Id")
            if not target_id:
                raise _fail("ValidationError", "A target ID must be specified")
            raw_port = entry.get("Port", group.port)
            if raw_port is None:
                raise _fail("ValidationError", f"A port must be specified for target '{target_id}'")
            port = int(raw_port)
            if not 1 <= port <= 65535:
                raise _fail(
                    "ValidationError",
                    f"Port '{port}' of target '{target_id}' is out of range 1-65535",
                )
            zone = entry.get("AvailabilityZone")
            if group.target_type == "instance" and not _INSTANCE_ID.match(str(target_id)):
                raise _fail("ValidationError", f"Instance ID '{target_id}' is not valid")
            if group.target_type == "ip":
                try:
                    ipaddress.ip_address(str(target_id))
                except ValueError:
                    raise _fail(
                        "ValidationError", f"The IP address '{target_id}' is not a valid IP address"
                    ) from None
            server_id = str(entry.get("QuicServerId") or "")
            if group.protocol in _QUIC_PROTOCOLS:
                if not _QUIC_SERVER_ID.match(server_id):
                    raise _fail(
                        "ValidationError",
                        f"A QUIC server ID (0x followed by 16 lowercase hexadecimal characters)"
                        f" must be specified for target '{target_id}'",
                    )
            elif server_id:
                raise _fail(
                    "ValidationError",
                    f"A QUIC server ID can only be specified for {', '.join(_QUIC_PROTOCOLS)}"
                    " target groups",
                )
            wanted.append(_Wanted(str(target_id), port, str(zone) if zone else None, server_id))
        return wanted

    def _ec2(self) -> Any:
        return ec2_backends[self.account_id][self.region_name]

    def _instances(self) -> dict[str, Any]:
        return {i.id: i for r in self._ec2().all_reservations() for i in r.instances}

    def _check_instances(self, group: Any, wanted: list[_Wanted]) -> None:
        known = self._instances()
        for w in wanted:
            instance = known.get(w.target_id)
            if instance is None or instance.vpc_id != group.vpc_id:
                raise _fail("InvalidTarget", _INVALID_TARGET)
        stopped = sorted({w.target_id for w in wanted if known[w.target_id].state != "running"})
        if stopped:
            listed = ", ".join(f"'{s}'" for s in stopped)
            raise _fail(
                "InvalidTarget",
                "The following targets are not in a running state and cannot be registered:"
                f" {listed}",
            )

    def _check_ips(self, group: Any, wanted: list[_Wanted]) -> list[_Wanted]:
        """Validate zones against the VPC's subnets; echo the subnet's zone when none was given.

        ELBv2 decides "inside the VPC" by the group VPC's subnets, not its CIDR blocks (a known
        trap: an address in a secondary CIDR with no subnet counts as outside).
        """
        subnets: list[tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, str]] = []
        for subnet in self._ec2().describe_subnets(filters={"vpc-id": [group.vpc_id]}):
            blocks = [subnet.cidr_block] if subnet.cidr_block else []
            blocks += [
                a["ipv6CidrBlock"]
                for a in subnet.ipv6_cidr_block_associations.values()
                if a.get("ipv6CidrBlock")
            ]
            subnets += [
                (ipaddress.ip_network(b, strict=False), subnet.availability_zone) for b in blocks
            ]
        cross_zone_off = group.attributes.get("load_balancing.cross_zone.enabled") == "false"
        vpc_zones = {zone for _net, zone in subnets}
        checked: list[_Wanted] = []
        for w in wanted:
            address = ipaddress.ip_address(w.target_id)
            subnet_zone = next((z for net, z in subnets if address in net), None)
            if subnet_zone is not None:
                if w.zone == "all":
                    raise _fail(
                        "ValidationError",
                        f"The IP address '{w.target_id}' is within the VPC, and cannot have its"
                        f" Availability Zone overridden to 'all' from '{subnet_zone}'",
                    )
                checked.append(replace(w, zone=w.zone or subnet_zone))
                continue
            if w.zone is None:
                raise _fail(
                    "ValidationError",
                    f"The Availability Zone is required for IP address '{w.target_id}'"
                    " because it is not in the VPC",
                )
            if cross_zone_off and w.zone not in vpc_zones:
                # ALB target groups with cross-zone load balancing off route by zone: an outside
                # address must name one of the VPC's zones, not "all".
                raise _fail(
                    "ValidationError",
                    "Cross-zone load balancing is off for this target group, so you must specify"
                    f" an Availability Zone inside the VPC for the IP address '{w.target_id}'",
                )
            if address.version == 4 and not any(address in n for n in _OUTSIDE_VPC_RANGES):
                raise _fail(
                    "ValidationError",
                    f"The IP address '{w.target_id}' is outside the VPC and not in a private range",
                )
            checked.append(w)
        return checked


_QUIC_PROTOCOLS = ("QUIC", "TCP_QUIC")
_QUIC_SERVER_ID = re.compile(r"^0x[0-9a-f]{16}$")

_INVALID_TARGET = (
    "The specified target does not exist, is not in the same VPC as the target group,"
    " or has an unsupported instance type."
)


def _is_new(record: TargetRecord | None) -> bool:
    return record is None or record.deregistered_at is not None


def _drain_seconds(group: Any) -> float:
    return float(group.attributes.get("deregistration_delay.timeout_seconds", 300))


def _description(
    group: Any,
    target_id: str,
    port: int,
    zone: str | None,
    health: TargetHealth,
    *,
    server_id: str = "",
) -> dict[str, Any]:
    target: dict[str, Any] = {"Id": target_id, "Port": port}
    if zone:
        target["AvailabilityZone"] = zone
    if server_id:
        target["QuicServerId"] = server_id
    state: dict[str, Any] = {"State": health.state.value}
    if health.reason:
        state["Reason"] = health.reason
        state["Description"] = health.description
    check_port = group.health_check_port
    if not check_port or check_port == "traffic-port":
        check_port = str(port)
    return {"Target": target, "HealthCheckPort": str(check_port), "TargetHealth": state}


def backend_class(lab: LabState) -> type[LabElbv2Backend]:
    """A backend class bound to ``lab`` (moto instantiates it per account and region)."""
    return type("BoundLabElbv2Backend", (LabElbv2Backend,), {"lab": lab})
