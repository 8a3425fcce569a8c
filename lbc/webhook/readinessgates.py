"""The mutating Pod webhook: readiness gates for the ip bindings that will target the pod.

A pod created behind an ip TargetGroupBinding should not count as Ready (and so let a rolling
update move on) before its target is healthy in the target group. The reconciler already keeps
the condition ``target-health.elbv2.k8s.aws/<binding>`` of pods that carry the gate; this
webhook puts the gate on the pod at creation, the only time ``spec.readinessGates`` can be set.

On Pod CREATE, for every ip binding of the pod's namespace (from the cache, by namespace index)
whose Service's selector selects the pod's labels, one gate is added; a Service with an empty
selector selects nothing, as for EndpointSlices. Existing gates are kept, and nothing is
patched when nothing changes.

Gates of the legacy prefix ``target-health.alb.ingress.k8s.aws/`` (the ALB ingress controller's,
LBC's predecessor) are dropped only when the pod gets at least one gate of a binding, as LBC's
injector does: a pod no binding selects keeps its spec exactly as written, whoever may still be
managing those gates.

``LBC_READINESS_GATE_INJECT=false`` turns injection off (LBC's
``--enable-pod-readiness-gate-inject=false``): every pod is admitted unchanged, legacy gates
included. The reconciler still keeps the conditions of pods that carry gates.

Only namespaces labelled ``elbv2.k8s.aws/pod-readiness-gate-inject: enabled`` are concerned:
the MutatingWebhookConfiguration's ``namespaceSelector`` says so, and the API server does not
call the webhook for other namespaces (this process keeps no namespace cache).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from lbc.core.objects import GATE_PREFIX
from lbc.webhook.caches import ClusterCaches
from lbc.webhook.review import AdmissionRequest, Verdict, allow, pointer

LEGACY_GATE_PREFIX: Final = "target-health.alb.ingress.k8s.aws/"
INJECT_LABEL: Final = "elbv2.k8s.aws/pod-readiness-gate-inject"


def _labels(pod: Mapping[str, Any]) -> Mapping[str, str]:
    meta = pod.get("metadata")
    labels = meta.get("labels") if isinstance(meta, Mapping) else None
    return labels if isinstance(labels, Mapping) else {}


def wanted_gates(caches: ClusterCaches, namespace: str, labels: Mapping[str, str]) -> list[str]:
    """Condition types of the ip bindings whose Service selects a pod with ``labels``."""
    gates = []
    for binding in caches.ip_bindings_in(namespace):
        service = caches.service(namespace, binding.spec.service_name)
        if service is None or not service.selector:
            continue
        if all(labels.get(k) == v for k, v in service.selector.items()):
            gates.append(GATE_PREFIX + binding.name)
    return gates


def inject_gates(
    request: AdmissionRequest, caches: ClusterCaches, *, enabled: bool = True
) -> Verdict:
    if not enabled or request.operation != "CREATE" or request.obj is None:
        return allow()
    pod = request.obj
    spec = pod.get("spec")
    spec = spec if isinstance(spec, Mapping) else {}
    raw = spec.get("readinessGates")
    current = [g for g in raw if isinstance(g, Mapping)] if isinstance(raw, list) else []
    wanted = wanted_gates(caches, request.namespace, _labels(pod))
    kept = (
        [g for g in current if not str(g.get("conditionType", "")).startswith(LEGACY_GATE_PREFIX)]
        if wanted
        else current
    )
    present = {str(g.get("conditionType", "")) for g in kept}
    added = [{"conditionType": gate} for gate in wanted if gate not in present]
    if not added and len(kept) == len(current):
        return allow()
    gates = [dict(g) for g in kept] + added
    return allow([{"op": "add", "path": pointer("spec", "readinessGates"), "value": gates}])
