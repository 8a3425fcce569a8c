"""kubectl against the lab for Ingresses: the seed's example, columns, status, class params."""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path

import pytest
import yaml

from lbc_lab.apiserver import LabApiServer
from tests.integration.apiserver.test_kubectl import EXAMPLES, REPO
from tests.kubectl import Kubectl

pytestmark = [
    pytest.mark.kubectl,
    pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed"),
]

PARAMS_CRD = REPO / "manifests" / "crds" / "ingressclassparams.yaml"
HOSTNAME = "k8s-echoserv-echoserv-0a1b2c3d4e-1234567890.us-east-1.elb.amazonaws.com"
ALB_CLASS = """
apiVersion: networking.k8s.io/v1
kind: IngressClass
metadata:
  name: alb
spec:
  controller: ingress.k8s.aws/alb
  parameters:
    apiGroup: elbv2.k8s.aws
    kind: IngressClassParams
    name: alb
"""
PARAMS = """
apiVersion: elbv2.k8s.aws/v1beta1
kind: IngressClassParams
metadata:
  name: alb
spec:
  namespaceSelector:
    matchLabels:
      team: echo
  group:
    name: shared
  scheme: internet-facing
  ipAddressType: ipv4
  loadBalancerName: shared-alb
  targetType: ip
  subnets:
    tags:
      kubernetes.io/role/elb: ["1"]
  inboundCIDRs: [10.0.0.0/8]
  tags:
  - key: Team
    value: test
"""


@pytest.fixture
def kubectl(lab_apiserver: LabApiServer, tmp_path: Path) -> Kubectl:
    return Kubectl(lab_apiserver.kubeconfig_path, tmp_path / "kube-cache")


@pytest.fixture
async def echoserver(kubectl: Kubectl) -> Kubectl:
    await kubectl.run("apply", "-f", str(EXAMPLES / "echoserver.yaml"))
    _, out, _ = await kubectl.run("apply", "-f", str(EXAMPLES / "ingress-echoserver.yaml"))
    assert "ingress.networking.k8s.io/echoserver created" in out
    return kubectl


async def test_get_ingress_prints_class_hosts_address_ports(echoserver: Kubectl) -> None:
    _, out, _ = await echoserver.run("get", "ingress", "-n", "echoserver")
    header, row = out.splitlines()
    assert header.split() == ["NAME", "CLASS", "HOSTS", "ADDRESS", "PORTS", "AGE"]
    assert row.split()[:4] == ["echoserver", "alb", "*", "80"], "no address yet"
    status = {"status": {"loadBalancer": {"ingress": [{"hostname": HOSTNAME}]}}}
    await echoserver.run(
        "patch", "ingress", "echoserver", "-n", "echoserver", "--subresource=status",
        "--type=merge", "-p", json.dumps(status),
    )  # fmt: skip
    _, out, _ = await echoserver.run("get", "ingress", "-n", "echoserver")
    assert out.splitlines()[1].split()[:5] == ["echoserver", "alb", "*", HOSTNAME, "80"]


async def test_apply_is_validated_by_the_server(echoserver: Kubectl) -> None:
    (doc,) = yaml.safe_load_all((EXAMPLES / "ingress-echoserver.yaml").read_text())
    doc["metadata"]["name"] = "typo"
    doc["spec"]["rules"][0]["http"]["paths"][0]["pathtype"] = "Exact"
    code, _, err = await echoserver.run("apply", "-f", "-", stdin=yaml.safe_dump(doc), ok=False)
    assert code != 0
    assert 'unknown field "spec.rules[0].http.paths[0].pathtype"' in err
    del doc["spec"]["rules"][0]["http"]["paths"][0]["pathtype"]
    doc["spec"]["rules"][0]["http"]["paths"][0]["pathType"] = "Regex"
    code, _, err = await echoserver.run("apply", "-f", "-", stdin=yaml.safe_dump(doc), ok=False)
    assert code != 0
    assert 'spec.rules[0].http.paths[0].pathType: Unsupported value: "Regex"' in err


async def test_get_ingress_watch_sees_the_address_arrive(echoserver: Kubectl) -> None:
    process = await echoserver.start("get", "ingress", "-n", "echoserver", "-w")
    assert process.stdout is not None
    try:
        async with asyncio.timeout(20):
            assert b"ADDRESS" in await process.stdout.readline()
            assert (await process.stdout.readline()).split()[0] == b"echoserver"
            status = {"status": {"loadBalancer": {"ingress": [{"hostname": HOSTNAME}]}}}
            await echoserver.run(
                "patch", "ingress", "echoserver", "-n", "echoserver", "--subresource=status",
                "--type=merge", "-p", json.dumps(status),
            )  # fmt: skip
            changed = await process.stdout.readline()
        assert HOSTNAME.encode() in changed
    finally:
        process.kill()
        await process.wait()


async def test_ingress_class_params_crd_registers_and_validates(kubectl: Kubectl) -> None:
    _, out, _ = await kubectl.run("apply", "-f", str(PARAMS_CRD))
    assert "ingressclassparams.elbv2.k8s.aws created" in out
    await kubectl.run("apply", "-f", "-", stdin=ALB_CLASS)
    _, out, _ = await kubectl.run("apply", "-f", "-", stdin=PARAMS)
    assert "ingressclassparams.elbv2.k8s.aws/alb created" in out
    _, out, _ = await kubectl.run("get", "ingressclassparams")
    header, row = out.splitlines()
    assert header.split() == ["NAME", "GROUP-NAME", "SCHEME", "IP-ADDRESS-TYPE", "AGE"]
    assert row.split()[:4] == ["alb", "shared", "internet-facing", "ipv4"]
    _, out, _ = await kubectl.run("get", "ingressclass")
    header, row = out.splitlines()
    assert header.split() == ["NAME", "CONTROLLER", "PARAMETERS", "AGE"]
    assert row.split()[:3] == ["alb", "ingress.k8s.aws/alb", "IngressClassParams.elbv2.k8s.aws/alb"]
    bad = PARAMS.replace("scheme: internet-facing", "scheme: public").replace(
        "name: alb", "name: bad"
    )
    code, _, err = await kubectl.run("apply", "-f", "-", stdin=bad, ok=False)
    assert code != 0
    assert 'spec.scheme: Unsupported value: "public"' in err
    namespaced = PARAMS.replace("name: alb", "name: ns\n  namespace: default")
    await kubectl.run("apply", "-f", "-", stdin=namespaced)
    _, out, _ = await kubectl.run("get", "ingressclassparams", "-o", "name")
    assert sorted(out.split()) == [
        "ingressclassparams.elbv2.k8s.aws/alb",
        "ingressclassparams.elbv2.k8s.aws/ns",
    ], "cluster-scoped: a namespace in the manifest is ignored"


async def test_get_services_prints_type_addresses_and_ports(kubectl: Kubectl) -> None:
    await kubectl.run("apply", "-f", str(EXAMPLES / "echoserver.yaml"))
    await kubectl.run("apply", "-f", str(EXAMPLES / "service-nlb-echoserver.yaml"))
    _, out, _ = await kubectl.run("get", "svc", "echoserver-nlb", "-n", "echoserver", "-o", "wide")
    header, row = out.splitlines()
    assert header.split() == [
        "NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE", "SELECTOR"
    ]  # fmt: skip
    name, kind, cluster_ip, external, ports, _age, selector = row.split()
    assert (name, kind, external, selector) == (
        "echoserver-nlb", "LoadBalancer", "<pending>", "app=echoserver"
    )  # fmt: skip
    assert cluster_ip.startswith("10.100.")
    port, _, rest = ports.partition(":")
    node_port, _, protocol = rest.partition("/")
    assert (port, protocol) == ("80", "TCP")
    assert 30000 <= int(node_port) <= 32767
    hostname = "k8s-echoserv-echoserv-0123456789-0123456789abcdef.elb.us-east-1.amazonaws.com"
    status = {"status": {"loadBalancer": {"ingress": [{"hostname": hostname}]}}}
    await kubectl.run(
        "patch", "svc", "echoserver-nlb", "-n", "echoserver", "--subresource=status",
        "--type=merge", "-p", json.dumps(status),
    )  # fmt: skip
    _, out, _ = await kubectl.run("get", "svc", "echoserver-nlb", "-n", "echoserver")
    assert out.splitlines()[1].split()[3] == hostname
