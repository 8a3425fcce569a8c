"""The shipped RBAC rules, enforced by the lab API server, against the real daemon.

The rules come from ``kubectl kustomize manifests``; :mod:`.rbac` evaluates them like the real
RBAC authorizer and the lab API server answers 403 to anything they do not allow. The daemon runs
as a real ``python -m lbc run`` process authenticated as the manifests' ServiceAccount, with the
Deployment's own ``LBC_*`` environment. Whatever the daemon does today (leader election now; the
binding controller's informers and writes as they land) must pass without a single 403.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import anyio.abc
import pytest
import yaml
from lbc.lab.apiserver.authz import RequestAttributes
from lbc.lab.apiserver.server import LabApiServer, kubeconfig_document
from lbc.lab.elb_fixtures import ElbLab

from tests.integration.manifests.layout import (
    CRD_FILE,
    EXAMPLES,
    KUBECTL,
    MANIFESTS,
    Obj,
    find,
    load_documents,
    render,
)
from tests.integration.manifests.rbac import RbacAuthorizer, grants, service_account_user

pytestmark = [
    pytest.mark.kubectl,
    pytest.mark.skipif(KUBECTL is None, reason="kubectl is not installed"),
]

NAMESPACE = "lbc-system"
TOKEN = "lbc-controller-token"
# Short Lease timings so the test takes seconds; they satisfy the settings' own relations.
TIMINGS = {"LBC_LEASE_DURATION": "4", "LBC_RENEW_DEADLINE": "3", "LBC_RETRY_PERIOD": "0.5"}


@pytest.fixture(scope="module")
def install() -> list[Obj]:
    return render(MANIFESTS)


@pytest.fixture(scope="module")
def controller(install: list[Obj]) -> str:
    account = find(install, "Deployment", "lbc")["spec"]["template"]["spec"]["serviceAccountName"]
    return service_account_user(NAMESPACE, account)


def _ask(
    authorizer: RbacAuthorizer,
    user: str,
    verb: str,
    resource: str,
    *,
    group: str = "",
    namespace: str = "default",
    name: str = "",
) -> bool:
    plural, _, sub = resource.partition("/")
    return authorizer(RequestAttributes(user, verb, group, plural, sub, namespace, name))


def test_lease_create_is_open_but_other_verbs_only_reach_the_named_lease(
    install: list[Obj], controller: str
) -> None:
    authz = RbacAuthorizer(grants(install))
    lease = {"group": "coordination.k8s.io", "namespace": NAMESPACE}
    assert _ask(authz, controller, "create", "leases", **lease)
    for verb in ("get", "update", "patch"):
        assert _ask(authz, controller, verb, "leases", name="lbc-leader", **lease)
        assert not _ask(authz, controller, verb, "leases", name="someone-else", **lease)
    assert not _ask(authz, controller, "delete", "leases", name="lbc-leader", **lease)
    assert not _ask(authz, controller, "list", "leases", **lease)
    # The Role binds in lbc-system only.
    assert not _ask(
        authz, controller, "create", "leases", group=lease["group"], namespace="default"
    )


def test_controller_reads_no_secrets_and_writes_no_workloads(
    install: list[Obj], controller: str
) -> None:
    authz = RbacAuthorizer(grants(install))
    assert not _ask(authz, controller, "get", "secrets", name="x")
    assert not _ask(authz, controller, "list", "secrets")
    assert not _ask(authz, controller, "patch", "pods", name="p")
    assert not _ask(authz, controller, "patch", "services", name="s")
    assert not _ask(authz, controller, "delete", "targetgroupbindings", group="elbv2.k8s.aws")
    assert not _ask(authz, controller, "create", "targetgroupbindings", group="elbv2.k8s.aws")
    assert not _ask(authz, "system:serviceaccount:default:default", "list", "pods")


def test_controller_may_do_what_the_design_needs(install: list[Obj], controller: str) -> None:
    authz = RbacAuthorizer(grants(install))
    tgb = {"group": "elbv2.k8s.aws", "namespace": "echoserver"}
    for verb in ("get", "list", "watch", "patch", "update"):
        assert _ask(authz, controller, verb, "targetgroupbindings", **tgb)
    assert _ask(authz, controller, "patch", "targetgroupbindings/status", name="b", **tgb)
    assert _ask(authz, controller, "patch", "pods/status", namespace="echoserver", name="p")
    for verb in ("get", "create", "patch", "delete"):
        assert _ask(authz, controller, verb, "configmaps", namespace="echoserver", name="c")
    assert _ask(authz, controller, "create", "events", namespace="echoserver")
    assert _ask(authz, controller, "watch", "endpointslices", group="discovery.k8s.io")
    assert _ask(authz, controller, "list", "nodes", namespace="")


def _controller_kubeconfig(server: LabApiServer, user: str, directory: Path) -> Path:
    path = directory / "controller-kubeconfig"
    path.write_text(yaml.safe_dump(kubeconfig_document(server.url, TOKEN, user)))
    return path


def _deployment_env(install: list[Obj]) -> dict[str, str]:
    (container,) = find(install, "Deployment", "lbc")["spec"]["template"]["spec"]["containers"]
    return {e["name"]: e["value"] for e in container["env"] if "value" in e}


@asynccontextmanager
async def _daemon(env: dict[str, str]) -> AsyncIterator[anyio.abc.Process]:
    process = await anyio.open_process(
        [sys.executable, "-m", "lbc", "run"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield process
    finally:
        if process.returncode is None:
            process.kill()
        with anyio.CancelScope(shield=True):
            await process.wait()


def _holder(server: LabApiServer) -> str:
    lease = server.get("coordination.k8s.io/v1", "Lease", "lbc-leader", NAMESPACE)
    return str(((lease or {}).get("spec") or {}).get("holderIdentity") or "")


def _seed(server: LabApiServer) -> None:
    """The seed scenario's objects, created by the administrator before the daemon starts."""
    (crd,) = load_documents(CRD_FILE)
    server.create(crd)
    server.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}})
    for name in ("echoserver.yaml", "tgb-cluster-a.yaml"):
        for obj in load_documents(EXAMPLES / name):
            server.create(obj)


@pytest.mark.timeout(60)
async def test_daemon_runs_under_the_shipped_rbac_without_a_403(
    install: list[Obj], controller: str, tmp_path: Path, elb_lab: ElbLab
) -> None:
    authz = RbacAuthorizer(grants(install))
    async with LabApiServer.running(authorizer=authz, tokens={TOKEN: controller}) as server:
        _seed(server)
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("LBC_")},
            **_deployment_env(install),
            **TIMINGS,
            "LBC_KUBECONFIG": str(_controller_kubeconfig(server, controller, tmp_path)),
            "LBC_PROBE_ADDR": "127.0.0.1:0",
            "LBC_METRICS_ADDR": "127.0.0.1:0",
            # AWS is the ELB lab on 127.0.0.1, never a real endpoint or the instance metadata.
            **elb_lab.env,
            "AWS_EC2_METADATA_DISABLED": "true",
            "POD_NAME": "lbc-0",
            "POD_NAMESPACE": NAMESPACE,
        }
        env.pop("KUBECONFIG", None)
        async with _daemon(env) as daemon:
            with anyio.fail_after(30):
                # The store has no change notification for in-process readers: poll, bounded.
                while _holder(server) != "lbc-0":
                    assert daemon.returncode is None, "the daemon exited"
                    await anyio.sleep(0.05)
            daemon.send_signal(signal.SIGTERM)
            with anyio.fail_after(15):
                code = await daemon.wait()
        assert authz.denied() == []
        assert code == 0
        assert _holder(server) == "", "the Lease was not released"
        seen = {(a.resource, a.verb) for a, _ in authz.decisions}
        assert {("leases", "create"), ("leases", "update")} <= seen, "requests bypassed RBAC"
