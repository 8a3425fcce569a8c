"""The lab Kubernetes API server: faithful enough for kubernetes_asyncio and kubectl.

No kube-apiserver runs on the development machines, so every test of lbc against Kubernetes
rests on this emulator. It reproduces the behaviour controllers depend on (resourceVersions,
optimistic concurrency, the status subresource, finalizers, watch resumption with 410 and
bookmarks, CRD schemas with 422 causes) rather than just storing JSON.

Usage in tests (fixtures from ``lbc_lab.kube_fixtures``: ``lab_apiserver``,
``lab_kubeconfig``, ``kube_api_client``)::

    async with LabApiServer.running() as api:
        api.url, api.kubeconfig_path          # http://127.0.0.1:<port>, a kubeconfig file
        api.create({...})                     # synchronous setup through the real semantics
        api.faults.fail("list", "pods", code=500, count=2)
        api.faults.close_watches(); api.faults.expire_history()

From the shell (foreground until SIGTERM/SIGINT; the kubeconfig appears once it serves)::

    python -m lbc lab apiserver --port 0 --kubeconfig /tmp/lab/kubeconfig

It prints one JSON line (url, kubeconfig, pid) once it serves. With ``rbac=True`` (``--rbac``)
requests are authorized against the stored Roles/ClusterRoles and bindings (see ``rbac``); the
admin kubeconfig may do everything, ``api.kubeconfig_for("system:serviceaccount:ns:name")``
(or ``LabApiControl.token_for``) acts as another user. For daemons under test, run it
as a child process with ``LabApiServerProcess`` (stops with its parent) and control it with
``LabApiControl(url)`` over ``/_lab/...`` (see ``labroutes``).

kubectl (1.32) verbs that work against the lab, each exercised by
tests/integration/apiserver/test_kubectl.py: ``apply -f`` (client-side create and update, and
``--server-side``), ``create -f``, ``create namespace|configmap|secret generic|serviceaccount``
(their protobuf bodies are decoded, see ``protobuf``), ``replace -f``, ``get`` (server-side
tables with CRD printer columns, ``-o wide|yaml|json|name``, ``-w``, ``-l``, ``-A``),
``patch --type merge|json|strategic``, ``delete`` (by name or ``-f``; waits while finalizers
hold the object), ``label``, ``annotate``, ``describe``, ``explain`` (custom resources),
``diff`` (server-side dry run), ``wait --for=jsonpath=...``, ``api-resources``,
``api-versions``, ``version``.

Not served: other imperative generators (``create deployment|service|role...``, ``expose``,
``run``: their protobuf bodies get 415), ``logs``, ``exec``, ``attach``, ``port-forward``,
``proxy``, ``top``, ``scale`` and ``rollout`` (no scale subresource, no controllers),
``auth can-i`` (no SelfSubjectAccessReview), ``certificate``, ``edit`` (works in principle,
untested: needs an editor), aggregated discovery (kubectl falls back to the legacy
documents), protobuf responses (clients accept JSON), ``/openapi/v2``.

Built-in kinds with the real server's validation, admission and printed columns: Ingress and
IngressClass (see ``networking``), and Services' allocations (cluster IPs, node ports, the
health-check node port) and load-balancer class rules (see ``services``), dispatched by
``builtin``.

Known approximations (a real cluster differs): the other built-in kinds are not schema-validated
(unknown fields are kept even with ``fieldValidation=Strict``) and their tables show only Name
and Age;
no controllers run (no garbage collection of ownerReferences, Deployments make no Pods,
Services get no EndpointSlices); strategic merge keys come from field names, not Go types (see
``patch``); server-side apply tracks ownership per leaf field with lists owned whole (see
``managed``); continue tokens resume from the current state, not a snapshot (see ``listing``);
CEL rules (``x-kubernetes-validations``) and ``format`` are not enforced (see ``schema``).
"""

from __future__ import annotations

from lbc_lab.apiserver.cli import main
from lbc_lab.apiserver.control import LabApiControl
from lbc_lab.apiserver.process import LabApiServerProcess
from lbc_lab.apiserver.server import LabApiServer

__all__ = ["LabApiControl", "LabApiServer", "LabApiServerProcess", "main"]
