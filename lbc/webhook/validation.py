"""The validating TargetGroupBinding webhook: refuse what cannot work or would do harm.

CREATE: the spec parses (``lbc.core.binding.parse_spec``, whose errors name the field); an ARN
or a resolvable name; ``targetType`` set; ``nodeSelector`` only with ``instance``;
``iamRoleArnToAssume`` only with ``ip``; then against the target group (one cached describe):
target type, ``ipAddressType`` (unset is fine only for an ipv4 group), ``vpcID`` and
``targetGroupProtocol`` must match it, and QUIC protocols need ``ip`` targets; finally the
duplicate-ARN rule.

UPDATE: the spec parses; ARN or name; ``targetType`` set; immutables (``targetGroupARN`` once
set, ``targetType``, ``ipAddressType`` except unset→ipv4, ``vpcID`` except unset→the group's
own VPC); ``nodeSelector`` and role rules; turning ``multiClusterTargetGroup`` off; the
duplicate-ARN rule. An update that leaves the spec as it was, or of a binding being deleted, is
always allowed: lbc's own finalizer and checkpoint writes must never be refused, also for
bindings stored before the webhooks were installed (the reference checks those too, and can
wedge a deletion).

Target groups are described with the role the binding names, if any
(``spec.iamRoleArnToAssume`` with its external id): a role that cannot be assumed, or that may
not describe the group, is refused naming that field.

Duplicate ARNs: other bindings (another uid) with the same ``targetGroupARN`` are allowed only
when this one and all of them are MultiCluster; a normal-mode binding owns the whole group and
would deregister the others' targets. Found through the ``webhook-arn`` index of the cache.

Turning ``multiClusterTargetGroup`` from true to false is always refused (the policy of
``lbc.core.plan``: normal mode owns the whole group, and other clusters' targets may be in it,
which no cache of this cluster can rule out). The reconciler refuses the same flip
(``MultiClusterDisableRefused``) when the webhook is not installed; here the operator learns it
at ``kubectl apply`` time. Refusing only when the ledger exists would not help: a MultiCluster
binding's ledger is re-written by every reconcile, so "delete the ledger, then flip" would race
the controller. The message tells the ways out.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any, Final

from lbc.aws.elbv2 import TargetGroupInfo
from lbc.core.binding import BindingSpec, InvalidBindingError, TargetType, parse_spec
from lbc.core.ledger import configmap_name
from lbc.webhook.caches import ClusterCaches, GroupLookup
from lbc.webhook.defaults import address_type_of
from lbc.webhook.groups import group_by_arn, group_by_name, lookup_for
from lbc.webhook.review import AdmissionRequest, Verdict, allow, deny

_QUIC: Final = frozenset({"QUIC", "TCP_QUIC"})


def _spec(obj: Mapping[str, Any] | None) -> Mapping[str, Any]:
    spec = (obj or {}).get("spec")
    return spec if isinstance(spec, Mapping) else {}


def _name(obj: Mapping[str, Any] | None) -> tuple[str, str, bool]:
    meta = (obj or {}).get("metadata")
    meta = meta if isinstance(meta, Mapping) else {}
    return str(meta.get("uid", "")), str(meta.get("name", "")), bool(meta.get("deletionTimestamp"))


class BindingValidator:
    """Validates TargetGroupBinding writes against the caches and the target group."""

    def __init__(self, caches: ClusterCaches, groups: GroupLookup) -> None:
        self._caches = caches
        self._groups = groups

    async def validate(self, request: AdmissionRequest) -> Verdict:
        if request.operation not in ("CREATE", "UPDATE") or request.obj is None:
            return allow()
        if request.operation == "UPDATE" and (
            _name(request.obj)[2] or _spec(request.obj) == _spec(request.old)
        ):
            # A deleting binding must always be able to drop its finalizer, and an update that
            # leaves the spec alone (finalizer, checkpoint, labels) cannot make it worse, even
            # for a binding stored before the webhooks were installed.
            return allow()
        try:
            spec = parse_spec(_spec(request.obj))
        except InvalidBindingError as err:
            return deny(f"{err.field}: {str(err).partition(': ')[2]}")
        if spec.target_type is None:
            return deny("spec.targetType: required (instance or ip)")
        if request.operation == "CREATE":
            verdict = await self._create(request, spec)
        else:
            verdict = await self._update(request, spec)
        if verdict.allowed and spec.notes:
            # Accepted as LBC accepts it; the client (kubectl) shows why it may surprise.
            verdict = replace(
                verdict, warnings=(*verdict.warnings, *(n.message for n in spec.notes))
            )
        return verdict

    def _lookups(self, spec: BindingSpec) -> GroupLookup:
        return lookup_for(self._groups, spec.iam_role_arn_to_assume, spec.assume_role_external_id)

    async def _create(self, request: AdmissionRequest, spec: BindingSpec) -> Verdict:
        shape = _shape(spec)
        if shape is not None:
            # Local rules first: a role refused with instance targets is not worth an AssumeRole.
            return shape
        groups = self._lookups(spec)
        lookup = await (
            group_by_arn(groups, spec.target_group_arn)
            if spec.target_group_arn
            else group_by_name(groups, spec.target_group_name)
        )
        if lookup.info is None:
            assert lookup.denial is not None  # noqa: S101 - a Lookup carries one or the other
            return lookup.denial
        return (
            _against_group(spec, lookup.info)
            or self._duplicates(request, spec, lookup.info.arn)
            or allow()
        )

    async def _update(self, request: AdmissionRequest, spec: BindingSpec) -> Verdict:
        new, old = _spec(request.obj), _spec(request.old)
        problem = _immutables(new, old) or _shape(spec)
        if problem is not None:
            return problem
        if old.get("vpcID") in (None, "") and spec.vpc_id:
            # unset -> set is allowed only to the group's own VPC (what the mutator would fill).
            lookup = await group_by_arn(self._lookups(spec), spec.target_group_arn)
            if lookup.info is None:
                assert lookup.denial is not None  # noqa: S101 - one or the other
                return lookup.denial
            if spec.vpc_id != lookup.info.vpc_id:
                return deny(
                    f"spec.vpcID: is immutable once the binding exists; {spec.vpc_id} is not the "
                    f"target group's VPC {lookup.info.vpc_id}"
                )
        if old.get("multiClusterTargetGroup") is True and not spec.multi_cluster:
            return _flip_refused(request)
        if not spec.target_group_arn:
            return allow()
        return self._duplicates(request, spec, spec.target_group_arn) or allow()

    def _duplicates(self, request: AdmissionRequest, spec: BindingSpec, arn: str) -> Verdict | None:
        uid, _n, _d = _name(request.obj)
        others = [
            e
            for e in self._caches.bindings_with_arn(arn)
            if e.uid != uid and (e.namespace, e.name) != (request.namespace, request.name)
        ]
        if not others:
            return None
        if spec.multi_cluster and all(
            e.binding is not None and e.binding.spec.multi_cluster for e in others
        ):
            return None
        names = ", ".join(sorted(e.key for e in others))
        return deny(
            f"spec.targetGroupARN: target group {arn} is already bound by {names}; several "
            "bindings may share a target group only if every one of them sets "
            "spec.multiClusterTargetGroup: true",
            403,
        )


def _shape(spec: BindingSpec) -> Verdict | None:
    if spec.node_selector is not None and spec.target_type is not TargetType.INSTANCE:
        return deny("spec.nodeSelector: only allowed with targetType instance")
    if spec.iam_role_arn_to_assume and spec.target_type is TargetType.INSTANCE:
        return deny("spec.iamRoleArnToAssume: not allowed with targetType instance")
    return None


def _against_group(spec: BindingSpec, info: TargetGroupInfo) -> Verdict | None:
    assert spec.target_type is not None  # noqa: S101 - checked by the caller
    if spec.target_type.value != info.target_type:
        return deny(
            f"spec.targetType: {spec.target_type.value} does not match target group "
            f"{info.arn}, whose target type is {info.target_type}"
        )
    group_address = address_type_of(info)
    address = spec.ip_address_type.value if spec.ip_address_type else None
    if address is None and group_address != "ipv4":
        return deny(
            f"spec.ipAddressType: required to match target group {info.arn}, which is "
            f"{info.ip_address_type}"
        )
    if address is not None and address != group_address:
        return deny(
            f"spec.ipAddressType: {address} does not match target group {info.arn}, which is "
            f"{group_address or info.ip_address_type}"
        )
    if spec.vpc_id and spec.vpc_id != info.vpc_id:
        return deny(
            f"spec.vpcID: {spec.vpc_id} does not match target group {info.arn}, which is in "
            f"{info.vpc_id}"
        )
    if spec.protocol is not None:
        if info.protocol and spec.protocol != info.protocol:
            return deny(
                f"spec.targetGroupProtocol: {spec.protocol} does not match target group "
                f"{info.arn}, whose protocol is {info.protocol}"
            )
        if spec.protocol in _QUIC and spec.target_type is TargetType.INSTANCE:
            return deny(f"spec.targetGroupProtocol: {spec.protocol} needs targetType ip")
    return None


def _immutables(new: Mapping[str, Any], old: Mapping[str, Any]) -> Verdict | None:
    old_arn, new_arn = old.get("targetGroupARN") or "", new.get("targetGroupARN") or ""
    if old_arn and new_arn != old_arn:
        return deny(f"spec.targetGroupARN: is immutable (was {old_arn})")
    if new.get("targetType") != old.get("targetType"):
        return deny(f"spec.targetType: is immutable (was {old.get('targetType')})")
    old_ip, new_ip = old.get("ipAddressType"), new.get("ipAddressType")
    if old_ip != new_ip and not (old_ip is None and new_ip == "ipv4"):
        return deny(f"spec.ipAddressType: is immutable (was {old_ip or 'unset, meaning ipv4'})")
    old_vpc, new_vpc = old.get("vpcID") or "", new.get("vpcID") or ""
    if old_vpc and new_vpc != old_vpc:
        return deny(f"spec.vpcID: is immutable (was {old_vpc})")
    return None


def _flip_refused(request: AdmissionRequest) -> Verdict:
    ledger = f"{request.namespace}/{configmap_name(request.name)}"
    return deny(
        "spec.multiClusterTargetGroup: cannot be turned off: with it off the binding would own "
        "the whole target group and deregister targets other clusters registered (lbc refuses "
        f"that while the ledger ConfigMap {ledger} exists). Keep it true (that is safe with a "
        "single cluster too); or, if no other cluster or binding uses this target group, delete "
        "this binding and create it again without multiClusterTargetGroup",
        403,
    )
