"""A binding's security-group wishes: which permissions it wants on which endpoint groups.

:class:`WishResolver` turns a binding's ``spec.networking`` and its desired targets into
:class:`~lbc.core.networking.Wishes`: the endpoint group of every target's ENI (instance
targets: the node's primary ENI; ip targets: the pod's branch ENI from
``vpc.amazonaws.com/pod-eni``, else the node ENI holding the pod's address or a prefix
containing it), from cached ENI and group facts, and the expanded permissions, named ports
resolved per pod from its container ports. It only reads (EC2 describes through the port's
caches) and keeps no state: the networking controller (:mod:`lbc.control.networking`) owns the
wishes and acts on the groups.

A binding whose wishes cannot be computed keeps its previous per-group wishes, marked
incomplete, with *guards*: the permissions its spec could ask for stay protected on every
group while revokes elsewhere go on.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Protocol

from lbc.control.entry import BindingEntry
from lbc.core.binding import Binding, Networking, TargetType
from lbc.core.desired import DesiredSet, Resolution, instance_id
from lbc.core.errors import LbcError
from lbc.core.networking import (
    FAILED,
    NOTHING,
    Eni,
    NetworkingError,
    Permission,
    Wishes,
    check_cluster_name,
    endpoint_group,
    eni_for_ip,
    expand,
    guards_of,
    primary_eni,
    resolve_named,
)
from lbc.core.objects import NodeView, PodView
from lbc.kube.informer import Store


class EniFacts(Protocol):
    """The reads of :class:`lbc.aws.securitygroups.SecurityGroups` that wishes need."""

    async def instance_enis(self, instance_ids: Iterable[str]) -> dict[str, tuple[Eni, ...]]: ...

    async def network_interfaces(self, eni_ids: Iterable[str]) -> dict[str, Eni]: ...

    async def group_tags(self, group_ids: Iterable[str]) -> dict[str, Mapping[str, str]]: ...


class WishResolver:
    """Computes one binding's :class:`Wishes` (module docstring)."""

    def __init__(
        self,
        *,
        groups: EniFacts,
        nodes: Store[NodeView],
        cluster_name: str | None,
        extra_tags: Mapping[str, str],
    ) -> None:
        self._groups = groups
        self._nodes = nodes
        self._cluster = cluster_name
        self._extra_tags = dict(extra_tags)

    async def wishes(
        self, entry: BindingEntry, wanted: DesiredSet, previous: Wishes | None
    ) -> Wishes | None:
        """``entry``'s wishes now; ``None`` when it has no networking at all.

        A deleting binding, or one whose Service is gone, wishes nothing (its rules may go).
        """
        binding = entry.binding
        if binding is None or binding.spec.networking is None:
            return None
        net = binding.spec.networking
        if entry.deleting or wanted.resolution is Resolution.BACKEND_NOT_FOUND:
            return NOTHING
        try:
            cluster = check_cluster_name(self._cluster)
            if wanted.resolution is Resolution.INVALID:
                raise NetworkingError("the binding's targets cannot be resolved")
            return await self._resolve(binding, net, wanted, cluster)
        except LbcError as exc:
            return unfinished(
                net, previous, f"{exc.reason}: {exc}" if exc.reason != FAILED else str(exc)
            )

    async def _resolve(
        self, binding: Binding, net: Networking, wanted: DesiredSet, cluster: str
    ) -> Wishes:
        pod_targets = binding.spec.target_type is TargetType.IP or any(
            d.pod is not None for d in wanted.targets.values()
        )
        expansion = expand(net, pod_targets=pod_targets)
        errors = list(expansion.errors)
        # Where each target's traffic enters: a pod's branch ENI (security groups for pods),
        # else an ENI of its node; ``address`` None asks for the node's primary ENI.
        by_instance: dict[str, list[tuple[str, str | None]]] = {}
        by_branch: dict[str, list[str]] = {}
        pods: dict[str, PodView | None] = {}
        for target, facts in wanted.targets.items():
            pod = facts.pod
            if expansion.named:
                pods[target.identity] = pod
            if pod is not None and pod.branch_enis:
                by_branch.setdefault(pod.branch_enis[0], []).append(target.identity)
                continue
            node = self._nodes.get(facts.node_name) if facts.node_name else None
            iid = instance_id(node.provider_id) if node is not None else None
            if iid is None:
                errors.append(f"target {target.identity}: node {facts.node_name!r} has no instance")
                continue
            address = None if pod is None else (pod.ip or target.id)
            by_instance.setdefault(iid, []).append((target.identity, address))
        eni_of: dict[str, Eni] = {}
        if by_branch:
            branches = await self._groups.network_interfaces(by_branch)
            for eni_id, identities in sorted(by_branch.items()):
                found = branches.get(eni_id)
                if found is None:
                    # Never the node ENI instead: the pod's traffic does not pass through it.
                    errors.extend(
                        f"target {identity}: branch ENI {eni_id} not found in EC2"
                        for identity in identities
                    )
                    continue
                eni_of.update(dict.fromkeys(identities, found))
        enis = await self._groups.instance_enis(by_instance) if by_instance else {}
        for iid, targets in sorted(by_instance.items()):
            instance = enis.get(iid)
            if instance is None:
                errors.append(f"instance {iid} not found in EC2")
                continue
            for identity, address in targets:
                eni = primary_eni(instance) if address is None else eni_for_ip(instance, address)
                if eni is None:
                    what = "primary ENI" if address is None else f"ENI holding {address}"
                    errors.append(f"target {identity}: no {what} on {iid}")
                    continue
                eni_of[identity] = eni
        chosen = {eni.eni_id: eni for eni in eni_of.values()}
        multi = {g for eni in chosen.values() if len(eni.groups) != 1 for g in eni.groups}
        tags = await self._groups.group_tags(multi) if multi else {}
        group_of: dict[str, str] = {}
        for eni in chosen.values():
            try:
                group_of[eni.eni_id] = endpoint_group(eni, tags, cluster, self._extra_tags)
            except NetworkingError as exc:
                errors.append(str(exc))
        per_group: dict[str, set[Permission]] = {}
        for identity, eni in sorted(eni_of.items()):
            gid = group_of.get(eni.eni_id)
            if gid is None:
                continue
            perms = per_group.setdefault(gid, set(expansion.permissions))
            if not expansion.named:
                continue
            pod = pods.get(identity)
            if pod is None:
                errors.append(f"target {identity}: no pod to resolve named ports from")
                continue
            resolved, missing = resolve_named(expansion.named, pod, identity)
            perms.update(resolved)
            errors.extend(missing)
        complete = not errors and not wanted.uncertain
        return Wishes(
            per_group={gid: frozenset(per_group[gid]) for gid in sorted(per_group)},
            complete=complete,
            guards=frozenset() if complete else guards_of(net),
            errors=tuple(dict.fromkeys(errors)),
        )


def unfinished(net: Networking, previous: Wishes | None, error: str) -> Wishes:
    """Wishes that could not be computed: the previous ones, guarded, with ``error``."""
    return Wishes(
        per_group=previous.per_group if previous is not None else {},
        complete=False,
        guards=guards_of(net),
        errors=(error,),
    )


__all__ = ["EniFacts", "WishResolver", "unfinished"]
