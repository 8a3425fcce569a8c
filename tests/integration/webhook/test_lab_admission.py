"""The lab API server calls registered webhooks as kube-apiserver does (the shipped manifests)."""

from __future__ import annotations

import asyncio
import copy
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
import pytest_asyncio

from lbc_lab.apiserver.authz import ADMIN_TOKEN
from lbc_lab.apiserver.server import LabApiServer
from lbc_lab.processes import free_port
from lbc_lab.scenario import CRD_PATH, load_yaml, webhook_configurations
from tests.integration.webhook.conftest import Running
from tests.integration.webhook.pki import Authority
from tests.unit.webhook.fakes import IP_ARN, VPC, service, tgb

pytestmark = pytest.mark.timeout(30)

TGBS = "/apis/elbv2.k8s.aws/v1beta1/namespaces/{ns}/targetgroupbindings"
GATE = "target-health.elbv2.k8s.aws/web"
ADMISSION = "/apis/admissionregistration.k8s.io/v1"


class Api:
    def __init__(self, lab: LabApiServer, session: aiohttp.ClientSession) -> None:
        self.lab = lab
        self.session = session

    async def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        content_type: str = "application/json",
    ) -> tuple[int, Any]:
        async with self.session.request(
            method,
            self.lab.url + path,
            json=body,
            headers={"Authorization": f"Bearer {ADMIN_TOKEN}", "Content-Type": content_type},
        ) as response:
            return response.status, await response.json()


@pytest_asyncio.fixture
async def api(lab_apiserver: LabApiServer) -> AsyncIterator[Api]:
    lab_apiserver.create(load_yaml(CRD_PATH))
    for ns, labels in (
        ("apps", {}),
        ("inject", {"elbv2.k8s.aws/pod-readiness-gate-inject": "enabled"}),
    ):
        lab_apiserver.create(
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns, "labels": labels}}
        )
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
        yield Api(lab_apiserver, session)


def _register(lab: LabApiServer, base_url: str, bundle: str, **overrides: Any) -> None:
    for doc in webhook_configurations(base_url, bundle):
        for hook in doc["webhooks"]:
            hook.update(overrides)
        lab.create(doc)


async def create_web(api: Api) -> tuple[int, Any]:
    """POST of binding ``web`` in ``apps``, naming its target group ``web-ip`` only."""
    return await api.call("POST", TGBS.format(ns="apps"), tgb("web", targetGroupName="web-ip"))


def _message(body: Any) -> str:
    return str(body.get("message", ""))


async def test_a_name_only_binding_is_stored_with_its_arn_and_inferred_fields(
    api: Api, webhook: Running
) -> None:
    _register(api.lab, webhook.url, webhook.authority.ca_bundle)
    code, created = await create_web(api)
    assert code == 201, created
    spec = created["spec"]
    assert spec["targetGroupARN"] == IP_ARN
    assert (spec["targetType"], spec["ipAddressType"], spec["vpcID"]) == ("ip", "ipv4", VPC)
    assert spec["targetGroupProtocol"] == "HTTP"
    stored = api.lab.get("elbv2.k8s.aws/v1beta1", "TargetGroupBinding", "web", "apps")
    assert stored is not None
    assert stored["spec"]["targetGroupARN"] == IP_ARN


async def test_an_invalid_binding_is_refused_with_the_webhook_message(
    api: Api, webhook: Running
) -> None:
    _register(api.lab, webhook.url, webhook.authority.ca_bundle)
    bad = tgb("web", targetGroupARN=IP_ARN, nodeSelector={"matchLabels": {"a": "b"}})
    code, status = await api.call("POST", TGBS.format(ns="apps"), bad)
    assert code == 400
    assert _message(status).startswith(
        'admission webhook "vtargetgroupbinding.elbv2.k8s.aws" denied the request: '
        "spec.nodeSelector:"
    )
    assert api.lab.get("elbv2.k8s.aws/v1beta1", "TargetGroupBinding", "web", "apps") is None


async def test_an_immutable_change_is_refused_and_status_writes_are_not_reviewed(
    api: Api, webhook: Running
) -> None:
    _register(api.lab, webhook.url, webhook.authority.ca_bundle)
    path = TGBS.format(ns="apps") + "/web"
    code, _ = await create_web(api)
    assert code == 201
    merge = "application/merge-patch+json"
    code, status = await api.call(
        "PATCH", path, {"spec": {"targetType": "instance"}}, content_type=merge
    )
    assert code == 400
    assert "spec.targetType: is immutable" in _message(status)
    code, _ = await api.call(
        "PATCH", path, {"metadata": {"annotations": {"a": "b"}}}, content_type=merge
    )
    assert code == 200
    # Status is a subresource the rules do not name: it is written even with the webhook down.
    for plural in ("mutatingwebhookconfigurations", "validatingwebhookconfigurations"):
        code, _ = await api.call("DELETE", f"{ADMISSION}/{plural}/lbc-webhook")
        assert code == 200
    _register(api.lab, f"https://127.0.0.1:{free_port()}", webhook.authority.ca_bundle)
    code, _ = await api.call(
        "PATCH", path, {"metadata": {"annotations": {"a": "c"}}}, content_type=merge
    )
    assert code == 500
    code, body = await api.call(
        "PATCH", path + "/status", {"status": {"observedGeneration": 1}}, content_type=merge
    )
    assert code == 200, body


async def test_failure_policy_fail_refuses_when_no_webhook_answers(api: Api) -> None:
    _register(api.lab, f"https://127.0.0.1:{free_port()}", Authority.create().ca_bundle)
    code, status = await api.call(
        "POST", TGBS.format(ns="apps"), tgb("web", targetGroupARN=IP_ARN, targetType="ip")
    )
    assert code == 500
    assert 'failed calling webhook "mtargetgroupbinding.elbv2.k8s.aws"' in _message(status)


async def test_failure_policy_ignore_admits_when_no_webhook_answers(api: Api) -> None:
    _register(
        api.lab,
        f"https://127.0.0.1:{free_port()}",
        Authority.create().ca_bundle,
        failurePolicy="Ignore",
    )
    code, _ = await api.call(
        "POST", TGBS.format(ns="apps"), tgb("web", targetGroupARN=IP_ARN, targetType="ip")
    )
    assert code == 201


async def test_a_server_certificate_not_signed_by_the_ca_bundle_fails_the_call(
    api: Api, webhook: Running
) -> None:
    _register(api.lab, webhook.url, Authority.create().ca_bundle)
    code, status = await create_web(api)
    assert code == 500
    assert "certificate verify failed" in _message(status).lower()


async def test_a_webhook_slower_than_its_timeout_is_a_failed_call(api: Api) -> None:
    async def silent(_r: asyncio.StreamReader, _w: asyncio.StreamWriter) -> None:
        await asyncio.sleep(30)  # never answers the handshake: the caller must time out

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        _register(
            api.lab, f"https://127.0.0.1:{port}", Authority.create().ca_bundle, timeoutSeconds=1
        )
        # The lab's default would be 10 s: only the configured second ends the call in time.
        async with asyncio.timeout(5):
            code, status = await create_web(api)
        assert code == 500
        assert "failed calling webhook" in _message(status)
        assert "Timeout" in _message(status)
    finally:
        server.close()


def _pod(name: str, ns: str, labels: dict[str, str]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": ns, "labels": labels},
        "spec": {"containers": [{"name": "c", "image": "echoserver:lab"}]},
    }


async def test_pods_get_gates_only_in_labelled_namespaces_and_lbc_pods_never(
    api: Api, webhook: Running
) -> None:
    _register(api.lab, webhook.url, webhook.authority.ca_bundle)
    for ns in ("apps", "inject"):
        webhook.cluster.add_service(service("web", ns=ns, selector={"app": "web"}))
        webhook.cluster.add_binding(tgb("web", ns=ns, targetGroupARN=IP_ARN, targetType="ip"))

    async def gates(name: str, ns: str, labels: dict[str, str]) -> list[str]:
        code, pod = await api.call("POST", f"/api/v1/namespaces/{ns}/pods", _pod(name, ns, labels))
        assert code == 201, pod
        return [g["conditionType"] for g in pod["spec"].get("readinessGates", [])]

    assert await gates("p1", "inject", {"app": "web"}) == [GATE]
    assert await gates("p2", "apps", {"app": "web"}) == []
    assert await gates("p3", "inject", {"app": "other"}) == []
    lbc_pod = {"app": "web", "app.kubernetes.io/name": "lbc"}
    assert await gates("p4", "inject", lbc_pod) == []


async def test_a_dry_run_is_reviewed_but_not_stored(api: Api, webhook: Running) -> None:
    _register(api.lab, webhook.url, webhook.authority.ca_bundle)
    code, created = await api.call(
        "POST", TGBS.format(ns="apps") + "?dryRun=All", tgb("web", targetGroupName="web-ip")
    )
    assert code == 201
    assert created["spec"]["targetGroupARN"] == IP_ARN
    assert api.lab.get("elbv2.k8s.aws/v1beta1", "TargetGroupBinding", "web", "apps") is None


async def test_updates_by_replace_keep_working_through_the_webhooks(
    api: Api, webhook: Running
) -> None:
    _register(api.lab, webhook.url, webhook.authority.ca_bundle)
    code, created = await create_web(api)
    assert code == 201
    changed = copy.deepcopy(created)
    changed["spec"]["serviceRef"]["port"] = "http"
    code, updated = await api.call("PUT", TGBS.format(ns="apps") + "/web", changed)
    assert code == 200, updated
    assert updated["spec"]["serviceRef"]["port"] == "http"
    assert updated["metadata"]["generation"] == 2


async def test_a_server_side_apply_create_is_mutated_and_later_applies_do_not_conflict(
    api: Api, webhook: Running
) -> None:
    _register(api.lab, webhook.url, webhook.authority.ca_bundle)
    path = TGBS.format(ns="apps") + "/web?fieldManager=ops"
    apply = "application/apply-patch+yaml"
    code, created = await api.call(
        "PATCH", path, tgb("web", targetGroupName="web-ip"), content_type=apply
    )
    assert code == 201, created
    assert created["spec"]["targetGroupARN"] == IP_ARN
    (entry,) = created["metadata"]["managedFields"]
    assert (entry["manager"], entry["operation"]) == ("ops", "Apply")
    # Ownership is recorded before mutation: the webhook's fields belong to nobody.
    owned = entry["fieldsV1"]["f:spec"]
    assert "f:targetGroupName" in owned
    assert "f:targetGroupARN" not in owned
    changed = tgb("web", targetGroupName="web-ip")
    changed["spec"]["serviceRef"]["port"] = "http"
    code, updated = await api.call("PATCH", path, changed, content_type=apply)
    assert code == 200, updated
    assert updated["spec"]["serviceRef"]["port"] == "http"
    assert updated["spec"]["targetGroupARN"] == IP_ARN
