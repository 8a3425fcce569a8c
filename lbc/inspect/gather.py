"""What the inspector reads, and only that: lists and gets in Kubernetes, describes in ELBv2.

Cost, per inspected target group: one ``DescribeTargetGroups`` and one ``DescribeTargetHealth``;
per cluster one list of TargetGroupBindings, then, only when some binding names the group, one
list each of Services, EndpointSlices (label selector on the bound Services), Pods and Nodes
(namespaced lists stay in the bindings' namespace when there is only one) and one get per
binding of its ledger ConfigMap (the daemon's own fresh read, :class:`lbc.kube.ledger.Ledgers`).
A list is read in pages of :data:`PAGE` objects, one consistent list as kubectl reads it.

The projections are the daemon's (:mod:`lbc.kube.views`) and so is the desired set
(:func:`lbc.core.desired.desired`), so the inspector sees exactly what a daemon would decide
from, read fresh instead of from informer caches.

A cluster that fails to answer becomes :class:`~lbc.inspect.ownership.ClusterFacts` with an
``error``; the other clusters are still read. Clusters are read concurrently.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, Final, Protocol

import anyio

from lbc.aws.elbv2 import TargetGroupInfo
from lbc.core.binding import Binding, InvalidBindingError, TargetType
from lbc.core.desired import DesiredSet, desired
from lbc.core.errors import LbcError, NotFoundError, TerminalError
from lbc.core.ledger import LedgerNameTooLongError, LedgerState, configmap_name
from lbc.core.objects import EndpointSliceView, NodeView, PodView, ServiceView, gate_type
from lbc.core.targets import Target, TargetHealth
from lbc.inspect.explain import BindingInputs
from lbc.inspect.ownership import BindingFacts, BindingRef, ClusterFacts
from lbc.inspect.sources import (
    BrokenInputError,
    Cluster,
    InspectError,
    UnreachableError,
    UsageError,
)
from lbc.kube.client import (
    ENDPOINT_SLICES,
    NODES,
    PODS,
    SERVICES,
    TARGET_GROUP_BINDINGS,
    KubeClient,
    Resource,
)
from lbc.kube.ledger import Ledgers
from lbc.kube.views import (
    binding_view,
    endpoint_slice_view,
    node_view,
    pod_view,
    service_view,
)

PAGE: Final = 1000
SERVICE_NAME_LABEL: Final = "kubernetes.io/service-name"


async def list_all(
    client: KubeClient,
    resource: Resource,
    namespace: str | None = None,
    *,
    label_selector: str | None = None,
) -> list[dict[str, Any]]:
    """Every item of one list, following ``continue`` tokens."""
    items: list[dict[str, Any]] = []
    token: str | None = None
    while True:
        page = await client.list(
            resource, namespace, label_selector=label_selector, limit=PAGE, continue_token=token
        )
        items.extend(page.get("items") or ())
        token = (page.get("metadata") or {}).get("continue") or None
        if token is None:
            return items


async def concurrently(*calls: Callable[[], Awaitable[Any]]) -> list[Any]:
    """Run ``calls`` at once; the first error (in call order, an :class:`LbcError` or an
    :class:`InspectError`) is raised once all ended, so no request outlives its client."""
    results: list[Any] = [None] * len(calls)
    errors: list[tuple[int, LbcError | InspectError]] = []

    async def one(index: int, call: Callable[[], Awaitable[Any]]) -> None:
        try:
            results[index] = await call()
        except (LbcError, InspectError) as exc:
            errors.append((index, exc))

    async with anyio.create_task_group() as group:
        for index, call in enumerate(calls):
            group.start_soon(one, index, call)
    if errors:
        raise min(errors, key=lambda e: e[0])[1]
    return results


def names_group(raw: Mapping[str, Any], arn: str, group_name: str) -> bool:
    """Whether a raw binding points at the group (its ARN, or its name when it has no ARN)."""
    spec = raw.get("spec")
    if not isinstance(spec, Mapping):
        return False
    raw_arn = spec.get("targetGroupARN")
    if raw_arn:
        return bool(raw_arn == arn)
    return bool(group_name) and spec.get("targetGroupName") == group_name


def _key(raw: Mapping[str, Any]) -> str:
    meta = raw.get("metadata") or {}
    return f"{meta.get('namespace', '')}/{meta.get('name', '')}"


@dataclass(frozen=True, slots=True)
class Workloads:
    """The projected objects the desired sets are computed from (one cluster, fresh)."""

    services: Mapping[str, ServiceView]
    slices: Mapping[str, list[EndpointSliceView]]
    pods: Mapping[str, PodView]
    nodes: Mapping[str, NodeView]

    def desired(self, binding: Binding) -> DesiredSet:
        key = f"{binding.namespace}/{binding.spec.service_name}"
        pods = self.pods

        def pod(namespace: str, name: str) -> PodView | None:
            return pods.get(f"{namespace}/{name}")

        return desired(binding, self.services.get(key), self.slices.get(key, []), pod, self.nodes)


async def read_workloads(
    client: KubeClient, bindings: Sequence[Binding], *, pods: bool = False
) -> Workloads:
    """One list per kind, scoped to what ``bindings`` need (pods: ip bindings, or ``pods``)."""
    namespaces = {b.namespace for b in bindings}
    scope = next(iter(namespaces)) if len(namespaces) == 1 else None
    ip = [b for b in bindings if b.spec.target_type is TargetType.IP]
    services = sorted({b.spec.service_name for b in bindings})

    async def nothing() -> list[dict[str, Any]]:
        return []

    selector = f"{SERVICE_NAME_LABEL} in ({','.join(services)})"
    raw_services, raw_slices, raw_pods, raw_nodes = await concurrently(
        lambda: list_all(client, SERVICES, scope),
        (lambda: list_all(client, ENDPOINT_SLICES, scope, label_selector=selector))
        if ip
        else nothing,
        (lambda: list_all(client, PODS, scope)) if ip or pods else nothing,
        lambda: list_all(client, NODES),
    )
    slices: dict[str, list[EndpointSliceView]] = {}
    for raw in raw_slices:
        view = endpoint_slice_view(raw)
        slices.setdefault(f"{view.namespace}/{view.service_name}", []).append(view)
    service_views = (service_view(raw) for raw in raw_services)
    pod_views = (pod_view(raw) for raw in raw_pods)
    return Workloads(
        services={f"{s.namespace}/{s.name}": s for s in service_views},
        slices=slices,
        pods={f"{p.namespace}/{p.name}": p for p in pod_views},
        nodes={n.name: n for n in map(node_view, raw_nodes)},
    )


def ledger_name(binding: Binding) -> str | None:
    try:
        return configmap_name(binding.name)
    except LedgerNameTooLongError:
        return None


async def read_cluster(cluster: Cluster, arn: str, group_name: str) -> ClusterFacts:
    """The bindings of ``cluster`` on the group, with desired sets and ledgers."""
    name, source = cluster.name, cluster.source.description
    client = cluster.client
    try:
        raw_bindings = await list_all(client, TARGET_GROUP_BINDINGS)
    except NotFoundError:
        return ClusterFacts(name, source, error="the TargetGroupBinding API is not served here")
    except LbcError as exc:
        return ClusterFacts(name, source, error=str(exc))
    bindings: list[Binding] = []
    problems: list[str] = []
    for raw in raw_bindings:
        if not names_group(raw, arn, group_name):
            continue
        try:
            bindings.append(binding_view(raw))
        except InvalidBindingError as exc:
            problems.append(f"binding {_key(raw)} names this group but is invalid: {exc}")
    if not bindings:
        return ClusterFacts(name, source, problems=tuple(problems))
    bindings.sort(key=lambda b: b.key)
    ledgers = Ledgers(client)

    async def ledger(binding: Binding) -> LedgerState:
        state, _stored = await ledgers.read(binding)
        return state

    try:
        workloads, *states = await concurrently(
            lambda: read_workloads(client, bindings),
            *(partial(ledger, b) for b in bindings),
        )
    except LbcError as exc:
        return ClusterFacts(name, source, error=str(exc))
    facts = tuple(
        BindingFacts(
            BindingRef(name, b.namespace, b.name),
            b,
            workloads.desired(b),
            state,
            ledger_name(b),
        )
        for b, state in zip(bindings, states, strict=True)
    )
    return ClusterFacts(name, source, facts, problems=tuple(problems))


async def read_clusters(
    clusters: Sequence[Cluster], arn: str, group_name: str
) -> list[ClusterFacts]:
    """Every cluster, concurrently, in the order given."""
    found: list[ClusterFacts | None] = [None] * len(clusters)

    async def one(index: int, cluster: Cluster) -> None:
        found[index] = await read_cluster(cluster, arn, group_name)

    async with anyio.create_task_group() as group:
        for index, cluster in enumerate(clusters):
            group.start_soon(one, index, cluster)
    return [f for f in found if f is not None]


# -- the target group ---------------------------------------------------------------------------


class TargetGroupReader(Protocol):
    """The read half of :class:`lbc.aws.elbv2.TargetGroups` (the inspector never writes)."""

    async def describe(self, arn: str, *, fresh: bool = False) -> Mapping[Target, TargetHealth]: ...

    async def describe_target_group(self, arn: str) -> TargetGroupInfo: ...

    async def describe_target_group_by_name(self, name: str) -> TargetGroupInfo: ...


async def read_group_info(groups: TargetGroupReader, ref: str) -> TargetGroupInfo:
    """The group named by an ARN (``arn:…``) or a name; :class:`UsageError` if there is none."""
    try:
        if ref.startswith("arn:"):
            return await groups.describe_target_group(ref)
        return await groups.describe_target_group_by_name(ref)
    except NotFoundError as exc:
        raise UsageError(f"target group {ref} not found: {exc}") from None
    except TerminalError as exc:
        raise UsageError(f"target group {ref} cannot be described: {exc}") from None


async def read_health(groups: TargetGroupReader, arn: str) -> Mapping[Target, TargetHealth]:
    """Every target of the group with its health: one full ``DescribeTargetHealth``."""
    try:
        return await groups.describe(arn, fresh=True)
    except NotFoundError as exc:
        raise UsageError(f"target group {arn} not found: {exc}") from None


# -- one binding --------------------------------------------------------------------------------


async def _binding_group(
    groups: TargetGroupReader, binding: Binding
) -> tuple[str, TargetGroupInfo | None, Mapping[Target, TargetHealth] | None]:
    """ARN resolution and observation as the reconciler does them (a missing group is None)."""
    spec = binding.spec
    try:
        if spec.target_group_arn:
            arn = spec.target_group_arn
            info = await groups.describe_target_group(arn)
        else:
            info = await groups.describe_target_group_by_name(spec.target_group_name)
            arn = info.arn
        return arn, info, await groups.describe(arn, fresh=True)
    except NotFoundError:
        return spec.target_group_arn, None, None
    except TerminalError as exc:
        raise UsageError(f"target group of {binding.key} cannot be described: {exc}") from None


async def read_binding(
    cluster: Cluster, namespace: str, name: str, groups: TargetGroupReader
) -> BindingInputs:
    """The binding ``namespace/name`` of ``cluster`` and every input of its next reconcile."""
    client = cluster.client
    where = f"binding {namespace}/{name} in cluster {cluster.name}"
    try:
        raw = await client.get(TARGET_GROUP_BINDINGS, name, namespace)
    except NotFoundError:
        raise UsageError(f"{where} not found") from None
    except LbcError as exc:
        raise UnreachableError(f"{where} cannot be read: {exc}") from None
    try:
        binding = binding_view(raw)
    except InvalidBindingError as exc:
        raise BrokenInputError(f"{where} is invalid (the daemon changes nothing): {exc}") from None
    ledgers = Ledgers(client)
    try:
        workloads, (ledger, _stored), (arn, info, observed) = await concurrently(
            lambda: read_workloads(client, [binding], pods=True),
            lambda: ledgers.read(binding),
            lambda: _binding_group(groups, binding),
        )
    except LbcError as exc:
        raise UnreachableError(f"{where}: {exc}") from None
    gate = gate_type(binding.name)
    gated = tuple(
        p for p in workloads.pods.values() if p.namespace == namespace and gate in p.readiness_gates
    )
    return BindingInputs(
        cluster=cluster.name,
        binding=binding,
        desired=workloads.desired(binding),
        ledger=ledger,
        ledger_name=ledger_name(binding),
        arn=arn,
        group=info,
        observed=observed,
        gated_pods=gated,
    )
