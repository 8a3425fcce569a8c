"""Generated names are always valid AWS names, whatever the Kubernetes names contain."""

from __future__ import annotations

import re

from hypothesis import given, strategies as st
from lbc.core.stack import names
from lbc.core.stack.model import StackId, StackKind

AWS_NAME = re.compile(r"^[A-Za-z0-9-]{1,32}$")
text = st.text(max_size=80)


@given(ns=text, name=text, cluster=text, scheme=st.sampled_from(["internal", "internet-facing"]))
def test_alb_and_nlb_names_fit_aws_rules(ns: str, name: str, cluster: str, scheme: str) -> None:
    for group in (StackId(StackKind.INGRESS, ns, name), StackId(StackKind.INGRESS, "", name)):
        assert AWS_NAME.match(names.alb_name(cluster, group, scheme))
        assert AWS_NAME.match(names.alb_security_group_name(cluster, group))
    assert AWS_NAME.match(names.nlb_name(cluster, ns, name, "uid", scheme))


@given(ns=text, name=text, uid=text, port=st.one_of(st.integers(1, 65535), text))
def test_target_group_names_fit_aws_rules(ns: str, name: str, uid: str, port: int | str) -> None:
    tg = names.ingress_target_group_name(
        "c",
        StackId(StackKind.INGRESS, ns, "ing"),
        ingress_namespace=ns,
        ingress_name="ing",
        service_namespace=ns,
        service_name=name,
        service_uid=uid,
        backend_port=port,
        target_group_port=30080,
        target_type="instance",
        protocol="HTTP",
        protocol_version="HTTP1",
    )
    assert AWS_NAME.match(tg)
