"""``kubectl kustomize manifests`` renders a complete, schema-valid, restricted install.

Kubernetes object schemas come from the ``kubernetes-validate`` package (the API server's OpenAPI
documents per release); strict mode rejects unknown fields, which is what catches a misspelt or
misplaced key that the API server would silently drop.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path

import kubernetes_validate
import pytest
from lbc.settings import ENV_PREFIX, Settings

from tests.integration.manifests.layout import (
    DOCKERFILE,
    MANIFESTS,
    NEEDS_KUBECTL,
    ROOT,
    Obj,
    example_files,
    find,
    load_documents,
    render,
)

pytestmark = NEEDS_KUBECTL

# The oldest Kubernetes minor EKS still supports in standard support, and the newest the validator
# knows: an object valid on both is valid on everything in between for these stable kinds.
KUBERNETES_VERSIONS = ("1.31.0", kubernetes_validate.latest_version())

INSTALL = {
    ("Namespace", "lbc-system"),
    ("CustomResourceDefinition", "targetgroupbindings.elbv2.k8s.aws"),
    ("CustomResourceDefinition", "ingressclassparams.elbv2.k8s.aws"),
    ("ServiceAccount", "lbc"),
    ("ClusterRole", "lbc"),
    ("ClusterRoleBinding", "lbc"),
    ("Role", "lbc-leader-election"),
    ("RoleBinding", "lbc-leader-election"),
    ("Deployment", "lbc"),
    ("PodDisruptionBudget", "lbc"),
    ("Service", "lbc-metrics"),
}


@pytest.fixture(scope="module")
def install() -> list[Obj]:
    return render(MANIFESTS)


@pytest.fixture(scope="module")
def install_with_monitor() -> list[Obj]:
    return render(MANIFESTS / "overlays" / "prometheus")


def _pod_spec(install: list[Obj]) -> Obj:
    spec: Obj = find(install, "Deployment", "lbc")["spec"]["template"]["spec"]
    return spec


def test_kustomize_renders_the_whole_install(install: list[Obj]) -> None:
    assert {(o["kind"], o["metadata"]["name"]) for o in install} == INSTALL
    for obj in install:
        if (
            obj["kind"] not in {"Namespace", "CustomResourceDefinition", "ClusterRole"}
            and obj["kind"] != "ClusterRoleBinding"
        ):
            assert obj["metadata"]["namespace"] == "lbc-system", obj["kind"]


def test_prometheus_overlay_adds_only_the_service_monitor(
    install: list[Obj], install_with_monitor: list[Obj]
) -> None:
    extra = [o for o in install_with_monitor if o not in install]
    assert [(o["kind"], o["metadata"]["namespace"]) for o in extra] == [
        ("ServiceMonitor", "lbc-system")
    ]


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_rendered_objects_pass_the_kubernetes_schemas(
    install_with_monitor: list[Obj], version: str
) -> None:
    for obj in install_with_monitor:
        if obj["kind"] == "ServiceMonitor":
            # A CRD of the Prometheus Operator: no schema ships with the validator.
            continue
        kubernetes_validate.validate(obj, version, strict=True)


def test_schema_validation_catches_a_misplaced_field(install: list[Obj]) -> None:
    # Guards the test above against validating nothing: readOnlyRootFilesystem one level too
    # high is exactly the kind of mistake the API server would silently drop.
    deployment = copy.deepcopy(find(install, "Deployment", "lbc"))
    deployment["spec"]["template"]["spec"]["readOnlyRootFilesystem"] = True
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSIONS[0], strict=True)


def test_controller_runs_restricted(install: list[Obj]) -> None:
    pod = _pod_spec(install)
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    (container,) = pod["containers"]
    sc = container["securityContext"]
    assert isinstance(sc["runAsUser"], int)
    assert sc["runAsUser"] > 0
    assert sc["readOnlyRootFilesystem"] is True
    assert sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"] == {"drop": ["ALL"]}
    assert sc["seccompProfile"] == {"type": "RuntimeDefault"}
    assert (
        find(install, "Namespace")["metadata"]["labels"]["pod-security.kubernetes.io/enforce"]
        == "restricted"
    )


def test_image_user_is_the_deployment_user(install: list[Obj]) -> None:
    (container,) = _pod_spec(install)["containers"]
    user = re.search(r"^USER (\d+):(\d+)$", DOCKERFILE.read_text(), re.MULTILINE)
    assert user is not None
    assert (int(user[1]), int(user[2])) == (
        container["securityContext"]["runAsUser"],
        container["securityContext"]["runAsGroup"],
    )


def test_two_replicas_with_probes_resources_and_a_grace_period(install: list[Obj]) -> None:
    deployment = find(install, "Deployment", "lbc")
    assert deployment["spec"]["replicas"] == 2
    assert deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    pod = _pod_spec(install)
    (container,) = pod["containers"]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "probes"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "probes"}
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["LBC_PROBE_ADDR"].endswith(f":{ports['probes']}")
    assert env["LBC_METRICS_ADDR"].endswith(f":{ports['http-metrics']}")
    assert set(container["resources"]["requests"]) == {"cpu", "memory"}
    assert "memory" in container["resources"]["limits"]
    shutdown = Settings(LBC_SHUTDOWN_GRACE_PERIOD=env["LBC_SHUTDOWN_GRACE_PERIOD"])
    assert pod["terminationGracePeriodSeconds"] > shutdown.shutdown_grace_period


def test_pod_identity_comes_from_the_downward_api(install: list[Obj]) -> None:
    (container,) = _pod_spec(install)["containers"]
    refs = {
        e["name"]: e["valueFrom"]["fieldRef"]["fieldPath"]
        for e in container["env"]
        if "valueFrom" in e
    }
    assert refs == {"POD_NAME": "metadata.name", "POD_NAMESPACE": "metadata.namespace"}


def test_every_lbc_variable_of_the_deployment_is_a_setting(install: list[Obj]) -> None:
    (container,) = _pod_spec(install)["containers"]
    values = {e["name"]: e["value"] for e in container["env"] if e["name"].startswith(ENV_PREFIX)}
    known = {ENV_PREFIX + name.upper() for name in Settings.model_fields}
    assert set(values) <= known
    # And the values parse: a typo such as LBC_LOG_FORMAT=jsn fails here, not at 3 a.m.
    Settings(**{name.removeprefix(ENV_PREFIX).lower(): v for name, v in values.items()})


def test_lease_rules_name_the_lease_the_deployment_uses(install: list[Obj]) -> None:
    (container,) = _pod_spec(install)["containers"]
    lease = next(e["value"] for e in container["env"] if e["name"] == "LBC_LEASE_NAME")
    rules = find(install, "Role", "lbc-leader-election")["rules"]
    assert rules == [
        {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["create"]},
        {
            "apiGroups": ["coordination.k8s.io"],
            "resources": ["leases"],
            "resourceNames": [lease],
            "verbs": ["get", "update"],
        },
    ]


def test_bindings_grant_the_roles_to_the_deployment_service_account(install: list[Obj]) -> None:
    account = _pod_spec(install)["serviceAccountName"]
    for kind, role in (("ClusterRoleBinding", "ClusterRole"), ("RoleBinding", "Role")):
        binding = find(install, kind)
        assert binding["roleRef"]["kind"] == role
        find(install, role, binding["roleRef"]["name"])
        assert binding["subjects"] == [
            {"kind": "ServiceAccount", "name": account, "namespace": "lbc-system"}
        ]


def test_disruption_budget_and_metrics_service_select_the_controller_pods(
    install: list[Obj], install_with_monitor: list[Obj]
) -> None:
    labels = find(install, "Deployment", "lbc")["spec"]["template"]["metadata"]["labels"]
    pdb = find(install, "PodDisruptionBudget", "lbc")
    assert pdb["spec"]["maxUnavailable"] == 1
    assert pdb["spec"]["selector"]["matchLabels"].items() <= labels.items()
    service = find(install, "Service", "lbc-metrics")
    assert service["spec"]["selector"].items() <= labels.items()
    (port,) = service["spec"]["ports"]
    monitor = find(install_with_monitor, "ServiceMonitor", "lbc")
    assert (
        monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    )
    assert [e["port"] for e in monitor["spec"]["endpoints"]] == [port["name"]]


def test_the_documented_overlay_renders_with_its_settings(tmp_path: Path) -> None:
    # The overlay an operator copies from README.md, with its placeholders filled in.
    doc = (ROOT / "README.md").read_text()
    block = doc.split("# my-cluster/kustomization.yaml\n", 1)[1].split("```", 1)[0]
    for placeholder, value in {
        "<account>": "111122223333",
        "<region>": "eu-west-1",
        "<cluster>": "prod-1",
    }.items():
        block = block.replace(placeholder, value)
    (tmp_path / "lbc").symlink_to(ROOT)
    (tmp_path / "my-cluster").mkdir()
    (tmp_path / "my-cluster" / "kustomization.yaml").write_text(block)
    objects = render(tmp_path / "my-cluster")
    account = find(objects, "ServiceAccount", "lbc")
    assert account["metadata"]["annotations"] == {
        "eks.amazonaws.com/role-arn": "arn:aws:iam::111122223333:role/lbc-prod-1"
    }
    (container,) = _pod_spec(objects)["containers"]
    assert container["image"] == "111122223333.dkr.ecr.eu-west-1.amazonaws.com/lbc:0.1.0"
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert (env["LBC_CLUSTER_NAME"], env["LBC_AWS_REGION"]) == ("prod-1", "eu-west-1")


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_example_workloads_pass_the_kubernetes_schemas(version: str) -> None:
    for path in example_files():
        for obj in load_documents(path):
            if obj["kind"] != "TargetGroupBinding":  # checked against the CRD elsewhere
                kubernetes_validate.validate(obj, version, strict=True)
