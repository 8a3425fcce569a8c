"""kubectl, a real client, against the lab: the seed examples and the everyday verbs."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path
from typing import Any

import pytest

from lbc_lab.apiserver import LabApiServer
from tests.kubectl import Kubectl

pytestmark = [
    pytest.mark.kubectl,
    pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed"),
]

REPO = Path(__file__).resolve().parents[3]
CRD = REPO / "manifests" / "crds" / "targetgroupbindings.yaml"
EXAMPLES = REPO / "manifests" / "examples"
TGB = "targetgroupbindings.elbv2.k8s.aws"
BINDING = "k8s-echoserv-echoserv-cc0122e143"


@pytest.fixture
def kubectl(lab_apiserver: LabApiServer, tmp_path: Path) -> Kubectl:
    return Kubectl(lab_apiserver.kubeconfig_path, tmp_path / "kube-cache")


@pytest.fixture
async def seeded(kubectl: Kubectl) -> Kubectl:
    await kubectl.run("apply", "-f", str(CRD))
    await kubectl.run("apply", "-f", str(EXAMPLES / "echoserver.yaml"))
    await kubectl.run("apply", "-f", str(EXAMPLES / "tgb-cluster-a.yaml"))
    return kubectl


def config_map(name: str, key: str) -> str:
    return (
        f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n  namespace: default\n"
        f"data:\n  {key}: '1'\n"
    )


def binding(api: LabApiServer, name: str = BINDING) -> dict[str, Any] | None:
    return api.get("elbv2.k8s.aws/v1beta1", "TargetGroupBinding", name, "echoserver")


async def test_kubectl_applies_the_crd_and_the_seed_examples(
    lab_apiserver: LabApiServer, kubectl: Kubectl
) -> None:
    _, out, _ = await kubectl.run("apply", "-f", str(CRD))
    assert f"customresourcedefinition.apiextensions.k8s.io/{TGB} created" in out
    _, out, _ = await kubectl.run("apply", "-f", str(EXAMPLES / "echoserver.yaml"))
    assert "namespace/echoserver created" in out
    for example in ("tgb-cluster-a.yaml", "tgb-cluster-b.yaml"):
        _, out, _ = await kubectl.run("apply", "-f", str(EXAMPLES / example))
        assert "created" in out
    a = binding(lab_apiserver)
    b = binding(lab_apiserver, "my-target-group-binding")
    assert a is not None
    assert b is not None
    assert a["spec"]["multiClusterTargetGroup"] is True
    assert b["spec"]["targetGroupARN"] == a["spec"]["targetGroupARN"]
    _, out, _ = await kubectl.run("apply", "-f", str(EXAMPLES / "tgb-cluster-a.yaml"))
    assert "unchanged" in out


async def test_kubectl_get_prints_the_crd_printer_columns(
    lab_apiserver: LabApiServer, seeded: Kubectl
) -> None:
    _, out, _ = await seeded.run("get", TGB, "-n", "echoserver")
    header, row = out.splitlines()[:2]
    assert header.split() == ["NAME", "SERVICE-NAME", "SERVICE-PORT", "TARGET-TYPE", "AGE"]
    assert row.split()[:4] == [BINDING, "echoserver", "80", "instance"]
    _, wide, _ = await seeded.run("get", TGB, "-n", "echoserver", "-o", "wide")
    assert "ARN" in wide.splitlines()[0]
    assert "arn:aws:elasticloadbalancing:us-east-1:565768096483:targetgroup/" in wide


async def test_kubectl_get_watch_sees_a_change(
    lab_apiserver: LabApiServer, seeded: Kubectl
) -> None:
    process = await seeded.start("get", TGB, "-n", "echoserver", "-w")
    assert process.stdout is not None
    try:
        async with asyncio.timeout(20):
            header = await process.stdout.readline()
            assert b"TARGET-TYPE" in header
            first = await process.stdout.readline()
            assert b"instance" in first
            await seeded.merge_patch(TGB, BINDING, "echoserver", {"spec": {"targetType": "ip"}})
            changed = await process.stdout.readline()
        assert changed.split()[:4] == [BINDING.encode(), b"echoserver", b"80", b"ip"]
    finally:
        process.kill()
        await process.wait()


async def test_kubectl_patch_merge_changes_the_spec_and_generation(
    lab_apiserver: LabApiServer, seeded: Kubectl
) -> None:
    _, out, _ = await seeded.merge_patch(
        TGB, BINDING, "echoserver", {"spec": {"serviceRef": {"port": 8080}}}
    )
    assert "patched" in out
    obj = binding(lab_apiserver)
    assert obj is not None
    assert obj["spec"]["serviceRef"]["port"] == 8080
    assert obj["metadata"]["generation"] == 2


async def test_kubectl_delete_waits_for_the_finalizer(
    lab_apiserver: LabApiServer, seeded: Kubectl
) -> None:
    await seeded.merge_patch(
        TGB, BINDING, "echoserver", {"metadata": {"finalizers": ["elbv2.k8s.aws/resources"]}}
    )
    process = await seeded.start("delete", TGB, BINDING, "-n", "echoserver")
    try:
        marked = await lab_apiserver.wait_for(
            lambda: (
                (b := binding(lab_apiserver)) is not None and b["metadata"].get("deletionTimestamp")
            )
        )
        assert marked
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.5):
                await process.wait()
        assert process.returncode is None, "kubectl delete returned while the finalizer held"
        await seeded.merge_patch(TGB, BINDING, "echoserver", {"metadata": {"finalizers": None}})
        async with asyncio.timeout(20):
            assert await process.wait() == 0
        assert binding(lab_apiserver) is None
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def test_kubectl_apply_of_the_printed_binding_is_rejected_naming_metadata_name(
    seeded: Kubectl,
) -> None:
    code, _, err = await seeded.run(
        "apply", "-f", str(EXAMPLES / "invalid" / "tgb-cluster-b-as-printed.yaml"), ok=False
    )
    assert code != 0
    assert 'is invalid: metadata.name: Invalid value: "MyTargetGroupBinding"' in err


async def test_kubectl_apply_of_an_invalid_spec_names_the_field(seeded: Kubectl) -> None:
    manifest = (
        (EXAMPLES / "tgb-cluster-b.yaml")
        .read_text()
        .replace("targetType: instance", "targetType: pods")
    )
    code, _, err = await seeded.run("apply", "-f", "-", stdin=manifest, ok=False)
    assert code != 0
    assert 'spec.targetType: Unsupported value: "pods"' in err


async def test_kubectl_everyday_verbs(
    lab_apiserver: LabApiServer, seeded: Kubectl, tmp_path: Path
) -> None:
    cm = tmp_path / "cm.yaml"
    cm.write_text(config_map("c", "a"))
    await seeded.run("create", "-f", str(cm))
    cm.write_text(cm.read_text().replace("a: '1'", "a: '2'"))
    await seeded.run("replace", "-f", str(cm))
    await seeded.run("label", "configmap", "c", "tier=front")
    await seeded.run("annotate", "configmap", "c", "note=hello")
    await seeded.run(
        "patch",
        "configmap",
        "c",
        "--type",
        "json",
        "-p",
        '[{"op":"add","path":"/data/b","value":"3"}]',
    )
    await seeded.run("patch", "configmap", "c", "-p", '{"data":{"c":"4"}}')
    obj = lab_apiserver.get("v1", "ConfigMap", "c", "default")
    assert obj is not None
    assert obj["data"] == {"a": "2", "b": "3", "c": "4"}
    assert obj["metadata"]["labels"] == {"tier": "front"}
    assert obj["metadata"]["annotations"]["note"] == "hello"
    _, names, _ = await seeded.run("get", "configmaps", "-l", "tier=front", "-o", "name")
    assert names.split() == ["configmap/c"]
    _, every, _ = await seeded.run("get", "services", "-A")
    assert "echoserver" in every
    _, yaml_out, _ = await seeded.run("get", "configmap", "c", "-o", "yaml")
    assert "tier: front" in yaml_out
    ssa = tmp_path / "ssa.yaml"
    ssa.write_text(config_map("s", "x"))
    await seeded.run("apply", "--server-side", "-f", str(ssa))
    created = lab_apiserver.get("v1", "ConfigMap", "s", "default")
    assert created is not None
    assert created["metadata"]["managedFields"][0]["manager"] == "kubectl"
    _, resources, _ = await seeded.run("api-resources")
    assert "targetgroupbindings" in resources
    _, versions, _ = await seeded.run("api-versions")
    assert "elbv2.k8s.aws/v1beta1" in versions.split()
    _, version, _ = await seeded.run("version")
    assert "Server Version: v1.32.0-lbc-lab" in version
    await seeded.run("delete", "configmap", "c", "s")
    assert lab_apiserver.get("v1", "ConfigMap", "c", "default") is None


async def test_kubectl_explain_describe_diff_wait_and_delete_by_file(
    lab_apiserver: LabApiServer, seeded: Kubectl
) -> None:
    _, explained, _ = await seeded.run("explain", f"{TGB}.spec.targetType")
    assert "ENUM:" in explained
    assert "instance" in explained
    _, described, _ = await seeded.run("describe", TGB, BINDING, "-n", "echoserver")
    assert f"Name:         {BINDING}" in described
    changed = (EXAMPLES / "tgb-cluster-a.yaml").read_text().replace("port: 80", "port: 81")
    code, diff, _ = await seeded.run("diff", "-f", "-", stdin=changed, ok=False)
    assert code == 1, "kubectl diff exits 1 when the server-side dry run differs"
    assert "-    port: 80" in diff
    assert "+    port: 81" in diff
    obj = binding(lab_apiserver)
    assert obj is not None
    assert obj["spec"]["serviceRef"]["port"] == 80, "a dry run changed the object"
    _, waited, _ = await seeded.run(
        "wait", "--for=jsonpath={.spec.targetType}=instance", TGB, BINDING,
        "-n", "echoserver", "--timeout=10s",
    )  # fmt: skip
    assert "condition met" in waited
    await seeded.run("delete", "-f", str(EXAMPLES / "tgb-cluster-a.yaml"))
    assert binding(lab_apiserver) is None


async def test_kubectl_imperative_creates_send_protobuf_the_lab_decodes(
    lab_apiserver: LabApiServer, kubectl: Kubectl
) -> None:
    await kubectl.run("create", "namespace", "team")
    await kubectl.run("create", "configmap", "c", "-n", "team", "--from-literal=a=1")
    await kubectl.run("create", "secret", "generic", "s", "-n", "team", "--from-literal=pw=x")
    await kubectl.run("create", "serviceaccount", "lbc", "-n", "team")
    ns = lab_apiserver.get("v1", "Namespace", "team")
    assert ns is not None
    assert ns["metadata"]["labels"] == {"kubernetes.io/metadata.name": "team"}
    cm = lab_apiserver.get("v1", "ConfigMap", "c", "team")
    assert cm is not None
    assert cm["data"] == {"a": "1"}
    secret = lab_apiserver.get("v1", "Secret", "s", "team")
    assert secret is not None
    assert (secret["data"], secret["type"]) == ({"pw": "eA=="}, "Opaque")
    assert lab_apiserver.get("v1", "ServiceAccount", "lbc", "team") is not None
    code, _, err = await kubectl.run(
        "create", "deployment", "web", "--image=nginx", "-n", "team", ok=False
    )
    assert code != 0
    assert "UnsupportedMediaType" in err or "unknown format" in err
