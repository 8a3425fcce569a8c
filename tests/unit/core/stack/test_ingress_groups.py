"""Ingress claiming and grouping as LBC does it: who is managed, in which group, in what order."""

from __future__ import annotations

from lbc.core.binding import LabelSelector
from lbc.core.stack.ingress_groups import (
    IngressCatalog,
    IngressGroup,
    claim,
    explicit_group,
    group_finalizer,
    group_ids,
    implicit_group,
    load_group,
    validate_group_name,
)
from lbc.core.stack.inputs import (
    IngressClassParamsView,
    IngressClassView,
    IngressView,
    NamespaceView,
    ParamsRefView,
)
from lbc.core.stack.model import BuildError

ALB = IngressClassView("alb", "ingress.k8s.aws/alb")
NGINX = IngressClassView("nginx", "k8s.io/ingress-nginx")
CATALOG = IngressCatalog([ALB, NGINX])
G = "alb.ingress.kubernetes.io/"


def ing(name: str, ns: str = "ns", cls: str | None = "alb", **kw: object) -> IngressView:
    ann = kw.pop("annotations", {})
    assert isinstance(ann, dict)
    return IngressView(ns, name, annotations=tuple(sorted(ann.items())), class_name=cls, **kw)  # type: ignore[arg-type]


def test_class_controller_claims_whatever_the_class_name() -> None:
    renamed = IngressCatalog([IngressClassView("public", "ingress.k8s.aws/alb")])
    assert claim(ing("a", cls="public"), renamed, "alb") is not None
    assert claim(ing("a", cls="nginx"), CATALOG, "alb") is None


def test_legacy_annotation_decides_alone() -> None:
    legacy = {"kubernetes.io/ingress.class": "alb"}
    assert claim(ing("a", cls="nginx", annotations=legacy), CATALOG, "alb") is not None
    other = {"kubernetes.io/ingress.class": "nginx"}
    assert claim(ing("a", cls="alb", annotations=other), CATALOG, "alb") is None
    # With --ingress-class empty the legacy value "alb" still claims.
    assert claim(ing("a", cls=None, annotations=legacy), CATALOG, "") is not None


def test_ingress_without_class_uses_the_single_default_class() -> None:
    default = IngressCatalog([IngressClassView("alb", "ingress.k8s.aws/alb", is_default=True)])
    assert claim(ing("a", cls=None), default, "alb") is not None
    assert claim(ing("a", cls=None), CATALOG, "alb") is None
    assert claim(ing("a", cls=None), CATALOG, "") is not None
    two = IngressCatalog(
        [
            IngressClassView("a", "ingress.k8s.aws/alb", is_default=True),
            IngressClassView("b", "ingress.k8s.aws/alb", is_default=True),
        ]
    )
    got = claim(ing("a", cls=None), two, "alb")
    assert isinstance(got, BuildError)
    assert got.message == "multiple default IngressClasses found"


def test_missing_class_is_an_invalid_class() -> None:
    got = claim(ing("a", cls="gone"), CATALOG, "alb")
    assert got == BuildError(
        'invalid ingress class: ingressclasses.networking.k8s.io "gone" not found',
        reason="FailedLoadGroupID",
    )


def params_catalog(params: IngressClassParamsView, labels: dict[str, str]) -> IngressCatalog:
    ref = ParamsRefView("elbv2.k8s.aws", "IngressClassParams", params.name)
    return IngressCatalog(
        [IngressClassView("alb", "ingress.k8s.aws/alb", parameters=ref)],
        [params],
        [NamespaceView("ns", tuple(labels.items()))],
    )


def test_params_are_loaded_and_their_namespace_selector_applies() -> None:
    selector = LabelSelector(match_labels=(("team", "web"),))
    params = IngressClassParamsView("p", scheme="internal", namespace_selector=selector)
    got = claim(ing("a"), params_catalog(params, {"team": "web"}), "alb")
    assert not isinstance(got, BuildError)
    assert got is not None
    assert got.params == params
    mismatch = claim(ing("a"), params_catalog(params, {"team": "db"}), "alb")
    assert isinstance(mismatch, BuildError)
    assert mismatch.message.endswith("namespaceSelector of IngressClassParams p mismatch")


def test_params_group_beats_the_annotation() -> None:
    params = IngressClassParamsView("p", group_name="from-params")
    catalog = params_catalog(params, {})
    a = ing("a", annotations={G + "group.name": "from-annotation"})
    assert group_ids(a, catalog, "alb") == (explicit_group("from-params"),)
    assert group_ids(a, CATALOG, "alb") == (explicit_group("from-annotation"),)
    assert group_ids(ing("b"), CATALOG, "alb") == (implicit_group(ing("b")),)


def test_group_names_follow_lbc_validation() -> None:
    assert validate_group_name("team-a.web") is None
    assert validate_group_name("a") is None
    assert validate_group_name("Team") is not None
    assert validate_group_name("-a") is not None
    assert validate_group_name("a" * 64) == "groupName must be no more than 63 characters"


def test_finalizers() -> None:
    assert group_finalizer(implicit_group(ing("a"))) == "ingress.k8s.aws/resources"
    assert group_finalizer(explicit_group("shared")) == "group.ingress.k8s.aws/shared"


def test_members_are_sorted_by_order_then_name_and_leavers_are_inactive() -> None:
    shared = explicit_group("shared")
    fin = ("group.ingress.k8s.aws/shared",)
    members = [
        ing("z", annotations={G + "group.name": "shared", G + "group.order": "-5"}),
        ing("b", annotations={G + "group.name": "shared"}),
        ing("a", annotations={G + "group.name": "shared"}),
        ing("left", annotations={G + "group.name": "other"}, finalizers=fin),
        ing("gone", annotations={G + "group.name": "shared"}, finalizers=fin, deleting=True),
        ing("bad", annotations={G + "group.name": "Bad!"}, finalizers=fin),
        ing("stranger", annotations={G + "group.name": "other"}),
    ]
    group = load_group(shared, members, CATALOG, "alb")
    assert isinstance(group, IngressGroup)
    assert [m.ingress.name for m in group.members] == ["z", "a", "b"]
    assert [i.name for i in group.inactive] == ["bad", "gone", "left"]
    assert group.finalizer == "group.ingress.k8s.aws/shared"


def test_group_order_out_of_range_fails_the_group() -> None:
    shared = explicit_group("shared")
    bad = ing("a", annotations={G + "group.name": "shared", G + "group.order": "1001"})
    got = load_group(shared, [bad], CATALOG, "alb")
    assert isinstance(got, BuildError)
    assert got.message == (
        "explicit Ingress group order must be within [-1000:1000], Ingress: ns/a, order: 1001"
    )


def test_invalid_class_on_a_finalized_member_fails_the_group() -> None:
    a = ing("a", cls="gone", finalizers=("ingress.k8s.aws/resources",))
    got = load_group(implicit_group(a), [a], CATALOG, "alb")
    assert isinstance(got, BuildError)
    assert got.message.startswith("Ingress: ns/a: Ingress has invalid IngressClass configuration")
    # Without the finalizer it is simply not a member.
    b = ing("b", cls="gone")
    assert load_group(implicit_group(b), [b], CATALOG, "alb") == IngressGroup(
        implicit_group(b), (), ()
    )


def test_an_ingress_event_reconciles_current_and_pending_groups() -> None:
    a = ing(
        "a",
        annotations={G + "group.name": "new"},
        finalizers=("group.ingress.k8s.aws/old", "ingress.k8s.aws/resources"),
    )
    assert group_ids(a, CATALOG, "alb") == (
        explicit_group("new"),
        explicit_group("old"),
        implicit_group(a),
    )


def test_params_group_with_an_empty_name_is_an_invalid_group_not_an_implicit_one() -> None:
    params = IngressClassParamsView("p", group_set=True)
    catalog = params_catalog(params, {})
    held = ing("a", finalizers=("ingress.k8s.aws/resources",))
    # The Ingress leaves its implicit group (finalizer removed after the teardown) ...
    group = load_group(implicit_group(held), [held], catalog, "alb")
    assert isinstance(group, IngressGroup)
    assert group.members == ()
    assert [i.name for i in group.inactive] == ["a"]
    # ... and its events report the invalid name (LBC's FailedLoadGroupID).
    got = group_ids(ing("b"), catalog, "alb")
    assert isinstance(got, BuildError)
    assert got.reason == "FailedLoadGroupID"
    assert got.message.startswith("invalid ingress group: groupName must consist of")


def test_params_of_another_kind_make_the_class_invalid() -> None:
    ref = ParamsRefView("example.com", "OtherParams", "p")
    catalog = IngressCatalog([IngressClassView("alb", "ingress.k8s.aws/alb", parameters=ref)])
    got = claim(ing("a"), catalog, "alb")
    assert got == BuildError(
        "invalid ingress class: IngressClass alb references unknown parameters",
        reason="FailedLoadGroupID",
    )
    missing = params_catalog(IngressClassParamsView("p"), {})
    gone = IngressCatalog(
        [missing.ingress_class("alb")],  # type: ignore[list-item]
        [],
        [NamespaceView("ns")],
    )
    got = claim(ing("a"), gone, "alb")
    assert isinstance(got, BuildError)
    assert got.message == 'invalid ingress class: ingressclassparams.elbv2.k8s.aws "p" not found'


def test_params_are_not_loaded_for_a_class_of_another_controller() -> None:
    ref = ParamsRefView("elbv2.k8s.aws", "IngressClassParams", "missing")
    catalog = IngressCatalog([IngressClassView("nginx", "k8s.io/ingress-nginx", parameters=ref)])
    assert claim(ing("a", cls="nginx"), catalog, "alb") is None
