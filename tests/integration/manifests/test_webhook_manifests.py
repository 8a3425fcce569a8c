"""The optional webhook component agrees with the webhook server it configures.

Paths, port, certificate directory, Secret, Service and namespace selector are each written
twice, once in ``lbc.webhook`` and once in ``manifests/components/webhook``; a mismatch
surfaces as every TargetGroupBinding write failing (``failurePolicy: Fail``) on a real
cluster. The constants are read from the code, not repeated here.
"""

from __future__ import annotations

import kubernetes_validate
import pytest
from lbc.settings import Settings, split_addr
from lbc.webhook.readinessgates import INJECT_LABEL
from lbc.webhook.server import MUTATE_BINDING, MUTATE_POD, VALIDATE_BINDING

from tests.integration.manifests.layout import MANIFESTS, NEEDS_KUBECTL, Obj, find, render
from tests.integration.manifests.test_rendering import KUBERNETES_VERSIONS

pytestmark = NEEDS_KUBECTL

NAMESPACE = "lbc-system"
CONFIGURATION = "lbc-webhook"


@pytest.fixture(scope="module")
def install() -> list[Obj]:
    return render(MANIFESTS)


@pytest.fixture(scope="module")
def with_webhook() -> list[Obj]:
    return render(MANIFESTS / "overlays" / "webhook")


def _container(objects: list[Obj]) -> Obj:
    (container,) = find(objects, "Deployment", "lbc")["spec"]["template"]["spec"]["containers"]
    return container


def _webhooks(objects: list[Obj]) -> dict[str, Obj]:
    return {
        hook["name"]: hook
        for kind in ("MutatingWebhookConfiguration", "ValidatingWebhookConfiguration")
        for hook in find(objects, kind, CONFIGURATION)["webhooks"]
    }


def test_webhooks_are_off_unless_the_component_is_added(install: list[Obj]) -> None:
    env = {e["name"]: e.get("value") for e in _container(install)["env"]}
    assert Settings(**_settings(env)).webhook_cert_dir == ""
    assert not [o for o in install if "Webhook" in o["kind"]]


def test_component_adds_the_webhooks_service_and_certificate(
    install: list[Obj], with_webhook: list[Obj]
) -> None:
    before = {(o["kind"], o["metadata"]["name"]) for o in install}
    added = {(o["kind"], o["metadata"]["name"]) for o in with_webhook} - before
    assert added == {
        ("Service", "lbc-webhook"),
        ("Issuer", "lbc-selfsigned"),
        ("Certificate", "lbc-webhook"),
        ("MutatingWebhookConfiguration", CONFIGURATION),
        ("ValidatingWebhookConfiguration", CONFIGURATION),
    }


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_webhook_objects_pass_the_kubernetes_schemas(with_webhook: list[Obj], version: str) -> None:
    for obj in with_webhook:
        if obj["apiVersion"].startswith("cert-manager.io/"):
            continue  # a CRD of cert-manager: no schema ships with the validator
        kubernetes_validate.validate(obj, version, strict=True)


def _settings(env: dict[str, str | None]) -> dict[str, str]:
    return {k.removeprefix("LBC_").lower(): v for k, v in env.items() if k.startswith("LBC_") and v}


def test_webhooks_call_the_paths_the_server_serves(with_webhook: list[Obj]) -> None:
    hooks = _webhooks(with_webhook)
    assert {name: hook["clientConfig"]["service"]["path"] for name, hook in hooks.items()} == {
        "mtargetgroupbinding.elbv2.k8s.aws": MUTATE_BINDING,
        "vtargetgroupbinding.elbv2.k8s.aws": VALIDATE_BINDING,
        "mpod.elbv2.k8s.aws": MUTATE_POD,
    }
    for hook in hooks.values():
        assert hook["failurePolicy"] == "Fail"
        assert hook["sideEffects"] == "None"
        assert hook["admissionReviewVersions"] == ["v1"]
    assert hooks["mpod.elbv2.k8s.aws"]["namespaceSelector"] == {
        "matchExpressions": [{"key": INJECT_LABEL, "operator": "In", "values": ["enabled"]}]
    }
    assert [r["operations"] for r in hooks["mtargetgroupbinding.elbv2.k8s.aws"]["rules"]] == [
        ["CREATE"]
    ]
    assert [r["resources"] for r in hooks["vtargetgroupbinding.elbv2.k8s.aws"]["rules"]] == [
        ["targetgroupbindings"]
    ], "the status subresource must stay out of admission"


def test_service_reaches_the_server_port_with_the_mounted_certificate(
    with_webhook: list[Obj],
) -> None:
    container = _container(with_webhook)
    settings = Settings(**_settings({e["name"]: e.get("value") for e in container["env"]}))
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert split_addr(settings.webhook_addr)[1] == ports["webhook"]

    service = find(with_webhook, "Service", "lbc-webhook")
    (port,) = service["spec"]["ports"]
    assert port["targetPort"] == "webhook"
    pod_labels = find(with_webhook, "Deployment", "lbc")["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= pod_labels.items()
    for hook in _webhooks(with_webhook).values():
        ref = hook["clientConfig"]["service"]
        assert (ref["name"], ref["namespace"], ref.get("port", 443)) == (
            "lbc-webhook",
            NAMESPACE,
            port["port"],
        )

    mounts = {m["name"]: m for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in find(with_webhook, "Deployment", "lbc")["spec"]["template"][
        "spec"
    ]["volumes"]}  # fmt: skip
    (tls,) = [n for n, m in mounts.items() if m["mountPath"] == settings.webhook_cert_dir]
    assert mounts[tls]["readOnly"] is True
    certificate = find(with_webhook, "Certificate", "lbc-webhook")
    assert volumes[tls]["secret"]["secretName"] == certificate["spec"]["secretName"]
    assert f"lbc-webhook.{NAMESPACE}.svc" in certificate["spec"]["dnsNames"]
    for kind in ("MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"):
        annotations = find(with_webhook, kind, CONFIGURATION)["metadata"]["annotations"]
        assert annotations["cert-manager.io/inject-ca-from"] == f"{NAMESPACE}/lbc-webhook"


def test_the_pod_webhook_never_gates_lbc_itself(with_webhook: list[Obj]) -> None:
    # lbc serves the pod webhook: if it judged lbc's own pods (in a labelled namespace) and no
    # replica were up, lbc could never start again (failurePolicy: Fail).
    selector = _webhooks(with_webhook)["mpod.elbv2.k8s.aws"]["objectSelector"]
    labels = find(with_webhook, "Deployment", "lbc")["spec"]["template"]["metadata"]["labels"]
    (expression,) = selector["matchExpressions"]
    assert expression["operator"] == "NotIn"
    assert labels[expression["key"]] in expression["values"]
