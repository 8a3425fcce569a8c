"""Which Ingresses lbc manages, with which IngressClassParams, and in which group.

Ported from LBC's class loader and group loader, because claiming and grouping decide which
finalizers exist and what a stack contains; a difference here means two controllers fight over
an Ingress after a switch, or a group silently loses a member.

Claiming: the legacy ``kubernetes.io/ingress.class`` annotation, when present, decides alone
(equal to ``--ingress-class``, or ``alb`` when that is empty; no params are loaded then).
Otherwise the IngressClass named by ``spec.ingressClassName`` (or the single default class) is
claimed when its controller is ``ingress.k8s.aws/alb``; its IngressClassParams are loaded
(apiGroup ``elbv2.k8s.aws``, kind ``IngressClassParams``; ``namespaceSelector`` must match the
Ingress's namespace). An Ingress with no class at all is managed only when ``--ingress-class``
is empty.

Groups: IngressClassParams ``group.name`` beats the ``group.name`` annotation; neither gives the
implicit group ``<ns>/<name>``. Members are sorted by ``group.order`` then ``ns/name``. An
Ingress that holds the group's finalizer but no longer belongs (deleted, moved, invalid group
name) is an *inactive* member: its finalizer is removed after the deploy. An invalid class on an
Ingress that holds the finalizer is an error, so it cannot silently leave its group.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from lbc.core.stack.annotations import (
    INGRESS_CLASS_ANNOTATION,
    AnnotationError,
    ingress_annotations,
)
from lbc.core.stack.inputs import (
    IngressClassParamsView,
    IngressClassView,
    IngressView,
    NamespaceView,
)
from lbc.core.stack.model import BuildError, StackId, StackKind

ALB_CONTROLLER = "ingress.k8s.aws/alb"
PARAMS_API_GROUP = "elbv2.k8s.aws"
PARAMS_KIND = "IngressClassParams"
IMPLICIT_FINALIZER = "ingress.k8s.aws/resources"
EXPLICIT_FINALIZER_PREFIX = "group.ingress.k8s.aws/"
LEGACY_CLASS = "alb"

MIN_ORDER, MAX_ORDER = -1000, 1000
MAX_GROUP_NAME = 63
_GROUP_NAME = re.compile(r"^([a-z0-9][-a-z0-9.]*)?[a-z0-9]$")


class _InvalidClassError(Exception):
    """LBC's ``ErrInvalidIngressClass`` (message already carries its prefix)."""


class _InvalidGroupError(Exception):
    """LBC's ``errInvalidIngressGroup``."""


class _GroupLoadError(Exception):
    """Any other failure: loading the group fails as a whole."""


class IngressCatalog:
    """The cluster-scoped objects claiming reads: IngressClasses, their params, namespaces."""

    __slots__ = ("_classes", "_namespaces", "_params")

    def __init__(
        self,
        classes: Iterable[IngressClassView] = (),
        params: Iterable[IngressClassParamsView] = (),
        namespaces: Iterable[NamespaceView] = (),
    ) -> None:
        self._classes = {c.name: c for c in classes}
        self._params = {p.name: p for p in params}
        self._namespaces = {n.name: n for n in namespaces}

    def ingress_class(self, name: str) -> IngressClassView | None:
        return self._classes.get(name)

    def default_classes(self) -> list[IngressClassView]:
        return [c for c in self._classes.values() if c.is_default]

    def class_params(self, name: str) -> IngressClassParamsView | None:
        return self._params.get(name)

    def namespace(self, name: str) -> NamespaceView | None:
        return self._namespaces.get(name)


@dataclass(frozen=True, slots=True)
class ClassifiedIngress:
    """An Ingress with the class configuration it was claimed through (``None``s when the
    legacy annotation claimed it or it has no class)."""

    ingress: IngressView
    ingress_class: IngressClassView | None = None
    params: IngressClassParamsView | None = None


@dataclass(frozen=True, slots=True)
class IngressGroup:
    """One group as the reconciler sees it: sorted active members and inactive members."""

    id: StackId
    members: tuple[ClassifiedIngress, ...]
    inactive: tuple[IngressView, ...]

    @property
    def finalizer(self) -> str:
        return group_finalizer(self.id)


def implicit_group(ingress: IngressView) -> StackId:
    return StackId(StackKind.INGRESS, ingress.namespace, ingress.name)


def explicit_group(name: str) -> StackId:
    return StackId(StackKind.INGRESS, "", name)


def group_finalizer(group: StackId) -> str:
    """``ingress.k8s.aws/resources`` (implicit) or ``group.ingress.k8s.aws/<group>``."""
    return EXPLICIT_FINALIZER_PREFIX + group.name if group.explicit else IMPLICIT_FINALIZER


def validate_group_name(name: str) -> str | None:
    """LBC's message for an invalid ``group.name``, or ``None``."""
    if not _GROUP_NAME.match(name):
        return (
            "groupName must consist of lower case alphanumeric characters, '-' or '.', and must "
            "start and end with an alphanumeric character"
        )
    if len(name) > MAX_GROUP_NAME:
        return f"groupName must be no more than {MAX_GROUP_NAME} characters"
    return None


def _classify(
    ingress: IngressView, catalog: IngressCatalog, ingress_class: str
) -> tuple[ClassifiedIngress, bool]:
    annotations = dict(ingress.annotations)
    if INGRESS_CLASS_ANNOTATION in annotations:
        value = annotations[INGRESS_CLASS_ANNOTATION]
        matches = value == ingress_class or (ingress_class == "" and value == LEGACY_CLASS)
        return ClassifiedIngress(ingress), matches
    class_name = ingress.class_name
    if class_name is None:
        defaults = catalog.default_classes()
        if len(defaults) > 1:
            raise _GroupLoadError("multiple default IngressClasses found")
        if not defaults:
            return ClassifiedIngress(ingress), ingress_class == ""
        class_name = defaults[0].name
    cls = catalog.ingress_class(class_name)
    if cls is None:
        raise _InvalidClassError(
            f'invalid ingress class: ingressclasses.networking.k8s.io "{class_name}" not found'
        )
    if cls.controller != ALB_CONTROLLER or cls.parameters is None:
        return ClassifiedIngress(ingress, cls), cls.controller == ALB_CONTROLLER
    ref = cls.parameters
    if ref.api_group != PARAMS_API_GROUP or ref.kind != PARAMS_KIND:
        raise _InvalidClassError(
            f"invalid ingress class: IngressClass {cls.name} references unknown parameters"
        )
    params = catalog.class_params(ref.name)
    if params is None:
        raise _InvalidClassError(
            f'invalid ingress class: ingressclassparams.elbv2.k8s.aws "{ref.name}" not found'
        )
    if params.namespace_selector is not None:
        namespace = catalog.namespace(ingress.namespace)
        if namespace is None:
            raise _InvalidClassError(
                f'invalid ingress class: namespaces "{ingress.namespace}" not found'
            )
        if not params.namespace_selector.matches(dict(namespace.labels)):
            raise _InvalidClassError(
                "invalid ingress class: namespaceSelector of IngressClassParams "
                f"{params.name} mismatch"
            )
    return ClassifiedIngress(ingress, cls, params), True


def _group_id(classified: ClassifiedIngress) -> StackId:
    params = classified.params
    if params is not None and (params.group_set or params.group_name):
        name = params.group_name
    else:
        annotated = ingress_annotations(dict(classified.ingress.annotations)).string("group.name")
        if annotated is None:
            return implicit_group(classified.ingress)
        name = annotated
    problem = validate_group_name(name)
    if problem is not None:
        raise _InvalidGroupError(f"invalid ingress group: {problem}")
    return explicit_group(name)


def _claim(
    ingress: IngressView, catalog: IngressCatalog, ingress_class: str
) -> tuple[ClassifiedIngress | None, StackId | None]:
    if ingress.deleting:
        return None, None
    classified, matches = _classify(ingress, catalog, ingress_class)
    if not matches:
        return None, None
    return classified, _group_id(classified)


def claim(
    ingress: IngressView, catalog: IngressCatalog, ingress_class: str
) -> ClassifiedIngress | BuildError | None:
    """The Ingress as lbc claims it (``None``: not lbc's, or being deleted)."""
    try:
        classified, _ = _claim(ingress, catalog, ingress_class)
    except (_InvalidClassError, _InvalidGroupError, _GroupLoadError) as err:
        return BuildError(str(err), reason="FailedLoadGroupID")
    return classified


def group_ids(
    ingress: IngressView, catalog: IngressCatalog, ingress_class: str
) -> tuple[StackId, ...] | BuildError:
    """Every group an Ingress event must reconcile: its current group and every group whose
    finalizer it still holds. A class or group it cannot be resolved to is ``BuildError``
    (LBC's ``FailedLoadGroupID``)."""
    found: list[StackId] = []
    try:
        _, current = _claim(ingress, catalog, ingress_class)
    except (_InvalidClassError, _InvalidGroupError, _GroupLoadError) as err:
        return BuildError(str(err), reason="FailedLoadGroupID")
    if current is not None:
        found.append(current)
    for pending in pending_groups(ingress):
        if pending not in found:
            found.append(pending)
    return tuple(found)


def pending_groups(ingress: IngressView) -> tuple[StackId, ...]:
    """Groups whose finalizer the Ingress holds (LBC's ``LoadGroupIDsPendingFinalization``)."""
    found: list[StackId] = []
    for finalizer in ingress.finalizers:
        if finalizer == IMPLICIT_FINALIZER:
            found.append(implicit_group(ingress))
        elif finalizer.startswith(EXPLICIT_FINALIZER_PREFIX):
            found.append(explicit_group(finalizer[len(EXPLICIT_FINALIZER_PREFIX) :]))
    return tuple(found)


class _Membership(enum.Enum):
    NONE = 0
    ACTIVE = 1
    INACTIVE = 2


def _has_finalizer(group: StackId, ingress: IngressView) -> bool:
    finalizer = group_finalizer(group)
    if group.explicit:
        return finalizer in ingress.finalizers
    return implicit_group(ingress) == group and finalizer in ingress.finalizers


def _membership(
    group: StackId, ingress: IngressView, catalog: IngressCatalog, ingress_class: str
) -> tuple[_Membership, ClassifiedIngress | None]:
    has_finalizer = _has_finalizer(group, ingress)
    try:
        classified, current = _claim(ingress, catalog, ingress_class)
    except _InvalidClassError as err:
        if has_finalizer:
            raise _GroupLoadError(f"Ingress has invalid IngressClass configuration: {err}") from err
        return _Membership.NONE, None
    except _InvalidGroupError:
        return (_Membership.INACTIVE if has_finalizer else _Membership.NONE), None
    if current == group:
        return _Membership.ACTIVE, classified
    return (_Membership.INACTIVE if has_finalizer else _Membership.NONE), None


def _order(member: ClassifiedIngress) -> int:
    ingress = member.ingress
    try:
        order = ingress_annotations(dict(ingress.annotations)).int32("group.order")
    except AnnotationError as err:
        raise _GroupLoadError(
            f"failed to load Ingress group order for ingress: {ingress.key}: {err}"
        ) from err
    if order is None:
        return 0
    if not MIN_ORDER <= order <= MAX_ORDER:
        raise _GroupLoadError(
            f"explicit Ingress group order must be within [{MIN_ORDER}:{MAX_ORDER}], "
            f"Ingress: {ingress.key}, order: {order}"
        )
    return order


def load_group(
    group: StackId,
    ingresses: Sequence[IngressView],
    catalog: IngressCatalog,
    ingress_class: str,
) -> IngressGroup | BuildError:
    """The group ``group`` among all ``ingresses`` of the cluster (LBC's group loader)."""
    members: list[ClassifiedIngress] = []
    inactive: list[IngressView] = []
    try:
        for ingress in ingresses:
            try:
                kind, classified = _membership(group, ingress, catalog, ingress_class)
            except _GroupLoadError as err:
                raise _GroupLoadError(f"Ingress: {ingress.key}: {err}") from err
            if kind is _Membership.ACTIVE and classified is not None:
                members.append(classified)
            elif kind is _Membership.INACTIVE:
                inactive.append(ingress)
        ordered = sorted(members, key=lambda m: (_order(m), m.ingress.key))
    except _GroupLoadError as err:
        return BuildError(str(err), reason="FailedLoadGroup")
    return IngressGroup(
        id=group,
        members=tuple(ordered),
        inactive=tuple(sorted(inactive, key=lambda i: i.key)),
    )
