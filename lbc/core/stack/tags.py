"""Tag precedence and tag reconciliation, as LBC applies them to every stack resource.

Precedence (first writer wins at every step, so a later source cannot override an earlier one):

1. the tracking tags: ``elbv2.k8s.aws/cluster``, ``<prefix>/stack``, ``<prefix>/resource``;
2. ``--default-tags`` (after the user tags instead when ``EnableDefaultTagsLowPriority`` is on);
3. the user tags of the resource (IngressClassParams over annotations, see the builders).

Tag reconciliation (for the deployer) sets an existing resource's tags to the desired set but
never touches the legacy keys older controllers need (kept for downgrades) nor the keys listed
in ``--external-managed-tags`` (someone else owns them).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from lbc.core.stack.model import LEGACY_CLUSTER_TAG, StackId, Tags, tags_of

#: AWS-reserved tag keys, which no API caller may write or delete.
AWS_RESERVED_PREFIX = "aws:"


def merge_first_wins(*sources: Mapping[str, str]) -> dict[str, str]:
    """One map from ``sources``; a key keeps the value of the first source that has it."""
    merged: dict[str, str] = {}
    for source in sources:
        for key, value in source.items():
            merged.setdefault(key, value)
    return merged


def with_default_tags(
    user_tags: Mapping[str, str], default_tags: Mapping[str, str], *, low_priority: bool = False
) -> dict[str, str]:
    """User tags merged with ``--default-tags``; the defaults win unless ``low_priority``."""
    if low_priority:
        return merge_first_wins(user_tags, default_tags)
    return merge_first_wins(default_tags, user_tags)


def resource_tags(
    stack_id: StackId, cluster_name: str, resource_id: str, tags: Mapping[str, str]
) -> Tags:
    """The complete tag set of one resource: tracking tags first, then ``tags``."""
    return tags_of(
        merge_first_wins(
            dict(stack_id.stack_tags(cluster_name)), {stack_id.resource_tag: resource_id}, tags
        )
    )


def legacy_tag_keys(cluster_name: str) -> tuple[str, ...]:
    """Keys tag reconciliation leaves alone (older controllers find resources by them)."""
    return (
        f"kubernetes.io/cluster/{cluster_name}",
        "kubernetes.io/cluster-name",
        "kubernetes.io/namespace",
        "kubernetes.io/ingress-name",
        "kubernetes.io/service-name",
        "kubernetes.io/service-port",
        LEGACY_CLUSTER_TAG,
    )


@dataclass(frozen=True, slots=True)
class TagChanges:
    """What AddTags / RemoveTags must do; both empty means the tags are in sync."""

    add: Tags
    remove: tuple[str, ...]

    @property
    def empty(self) -> bool:
        return not self.add and not self.remove


NO_TAG_CHANGES = TagChanges(add=(), remove=())


def tag_changes(
    desired: Mapping[str, str], current: Mapping[str, str], ignored: Iterable[str] = ()
) -> TagChanges:
    """The tag writes that bring ``current`` to ``desired``, never touching ``ignored`` keys.

    ``ignored`` is :func:`legacy_tag_keys` plus ``--external-managed-tags``; such keys are
    neither added nor removed, and neither are AWS's reserved ``aws:`` keys.
    """
    skip = frozenset(ignored)

    def managed(key: str) -> bool:
        return key not in skip and not key.startswith(AWS_RESERVED_PREFIX)

    add = {k: v for k, v in desired.items() if current.get(k) != v and managed(k)}
    remove = tuple(sorted(k for k in current if k not in desired and managed(k)))
    return TagChanges(add=tags_of(add), remove=remove)
