"""Tag precedence (tracking tags cannot be overridden) and tag reconciliation."""

from __future__ import annotations

from lbc.core.stack.model import StackId, StackKind
from lbc.core.stack.tags import legacy_tag_keys, resource_tags, tag_changes, with_default_tags

SID = StackId(StackKind.INGRESS, "echoserver", "echoserver")


def test_tracking_tags_win_over_user_tags() -> None:
    tags = dict(
        resource_tags(
            SID,
            "c1",
            "LoadBalancer",
            {"elbv2.k8s.aws/cluster": "evil", "ingress.k8s.aws/resource": "x", "Team": "t"},
        )
    )
    assert tags == {
        "elbv2.k8s.aws/cluster": "c1",
        "ingress.k8s.aws/stack": "echoserver/echoserver",
        "ingress.k8s.aws/resource": "LoadBalancer",
        "Team": "t",
    }


def test_default_tags_win_unless_low_priority() -> None:
    assert with_default_tags({"k": "user"}, {"k": "default"}) == {"k": "default"}
    assert with_default_tags({"k": "user"}, {"k": "default"}, low_priority=True) == {"k": "user"}


def test_reconcile_adds_changed_and_removes_stale_tags() -> None:
    changes = tag_changes({"a": "1", "b": "2"}, {"a": "0", "c": "3"})
    assert changes.add == (("a", "1"), ("b", "2"))
    assert changes.remove == ("c",)


def test_reconcile_never_touches_legacy_external_or_aws_keys() -> None:
    current = {
        "ingress.k8s.aws/cluster": "c1",
        "kubernetes.io/cluster/c1": "owned",
        "ext": "someone",
        "aws:cloudformation:stack-name": "s",
    }
    changes = tag_changes({"ext": "mine"}, current, (*legacy_tag_keys("c1"), "ext"))
    assert changes.empty


def test_tags_in_sync_need_no_write() -> None:
    assert tag_changes({"a": "1"}, {"a": "1"}).empty
