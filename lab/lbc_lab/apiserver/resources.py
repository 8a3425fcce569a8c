"""Resource types the lab serves: built-ins declared as data, custom ones from CRDs.

A ``ResourceType`` is one (group, version, plural) as discovery lists it. Versions of one
resource share a storage key (``plural.group``): objects are stored once and converted to the
requested apiVersion on the way out. Nothing here knows about any particular CRD; applying a
CustomResourceDefinition is what makes its resources appear.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from lbc_lab.apiserver import netschemas, networking, services

Obj = dict[str, Any]

_BASE_FIELDS = frozenset({"metadata.name", "metadata.namespace"})


@dataclass(frozen=True, slots=True)
class PrinterColumn:
    name: str
    type: str
    json_path: str
    description: str = ""
    format: str = ""
    priority: int = 0
    #: Computes the cell instead of ``json_path`` (built-in kinds' printers format values).
    compute: Callable[[Obj], Any] | None = field(default=None, compare=False)


@dataclass(frozen=True, slots=True)
class ResourceType:
    group: str
    version: str
    plural: str
    singular: str
    kind: str
    namespaced: bool
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    #: Subresources besides the object itself: "status" keeps status apart from the main
    #: resource (writes to one ignore the other's part).
    subresources: frozenset[str] = frozenset()
    name_rule: str = "subdomain"
    field_selectors: frozenset[str] = _BASE_FIELDS
    #: Structural openAPIV3Schema of a custom resource version (None: no validation).
    schema: Obj | None = None
    printer_columns: tuple[PrinterColumn, ...] = ()
    #: metadata.generation is maintained (bumped on spec changes only).
    tracks_generation: bool = False
    custom: bool = False
    #: Converts a stored object into this version's shape (None: only apiVersion differs).
    to_version: Callable[[Obj], Obj] | None = field(default=None, compare=False)
    #: Converts an incoming object of this version into the storage shape.
    from_version: Callable[[Obj], Obj] | None = field(default=None, compare=False)
    #: The storage key when it is not ``plural.group`` (events of two groups share one).
    storage_override: str = ""
    #: ``plural.group`` (or the override): where objects of every version are kept.
    storage: str = field(init=False, compare=False)

    def __post_init__(self) -> None:
        default = f"{self.plural}.{self.group}" if self.group else self.plural
        object.__setattr__(self, "storage", self.storage_override or default)

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def list_kind(self) -> str:
        return self.kind + "List"

    @property
    def verbs(self) -> list[str]:
        return [
            "create",
            "delete",
            "deletecollection",
            "get",
            "list",
            "patch",
            "update",
            "watch",
        ]

    def present(self, obj: Obj) -> Obj:
        """A stored object as this version returns it."""
        if self.to_version is not None:
            return self.to_version(obj)
        if obj.get("apiVersion") == self.api_version:
            return obj
        return {**obj, "apiVersion": self.api_version}

    def converter(self) -> Callable[[Obj], Obj] | None:
        """What events need to be re-encoded for this version (None: stored bytes as they are)."""
        return self.present if (self.to_version is not None or self.custom) else None


# -- core/v1 Event <-> events.k8s.io/v1 Event ------------------------------------------------

_EVENT_RENAMES = (
    ("involvedObject", "regarding"),
    ("message", "note"),
    ("source", "deprecatedSource"),
    ("firstTimestamp", "deprecatedFirstTimestamp"),
    ("lastTimestamp", "deprecatedLastTimestamp"),
    ("count", "deprecatedCount"),
    ("reportingComponent", "reportingController"),
)


def _events_v1_out(obj: Obj) -> Obj:
    out = {k: v for k, v in obj.items() if k not in dict(_EVENT_RENAMES)}
    for core, new in _EVENT_RENAMES:
        if core in obj:
            out[new] = obj[core]
    out["apiVersion"] = "events.k8s.io/v1"
    return out


def _events_v1_in(obj: Obj) -> Obj:
    renames = {new: core for core, new in _EVENT_RENAMES}
    out = {renames.get(k, k): v for k, v in obj.items()}
    out["apiVersion"] = "v1"
    return out


_POD_FIELDS = _BASE_FIELDS | {
    "spec.nodeName",
    "spec.restartPolicy",
    "spec.schedulerName",
    "spec.serviceAccountName",
    "spec.hostNetwork",
    "status.phase",
    "status.podIP",
    "status.nominatedNodeName",
}
_EVENT_FIELDS = _BASE_FIELDS | {
    "involvedObject.kind",
    "involvedObject.namespace",
    "involvedObject.name",
    "involvedObject.uid",
    "involvedObject.apiVersion",
    "involvedObject.resourceVersion",
    "involvedObject.fieldPath",
    "reason",
    "reportingComponent",
    "source",
    "type",
}
_EVENTS_V1_FIELDS = _BASE_FIELDS | {
    "regarding.kind",
    "regarding.namespace",
    "regarding.name",
    "regarding.uid",
    "reason",
    "reportingController",
    "type",
}

_STATUS = frozenset({"status"})


def builtin_types() -> list[ResourceType]:
    """The built-in resources (their schemas are not validated: they are trusted inputs)."""
    return [
        ResourceType(
            "",
            "v1",
            "namespaces",
            "namespace",
            "Namespace",
            False,
            ("ns",),
            subresources=_STATUS,
            name_rule="label",
            field_selectors=_BASE_FIELDS | {"status.phase"},
        ),
        ResourceType(
            "",
            "v1",
            "nodes",
            "node",
            "Node",
            False,
            ("no",),
            subresources=_STATUS,
            field_selectors=_BASE_FIELDS | {"spec.unschedulable"},
        ),
        ResourceType(
            "",
            "v1",
            "pods",
            "pod",
            "Pod",
            True,
            ("po",),
            ("all",),
            subresources=_STATUS,
            field_selectors=_POD_FIELDS,
        ),
        ResourceType(
            "",
            "v1",
            "services",
            "service",
            "Service",
            True,
            ("svc",),
            ("all",),
            subresources=_STATUS,
            name_rule="dns1035",
            printer_columns=(
                _computed("Type", services.type_cell, "The type of the Service"),
                _computed("Cluster-IP", services.cluster_ip_cell, "The allocated cluster IP"),
                _computed("External-IP", services.external_ip_cell, "Where clients reach it"),
                _computed("Port(s)", services.ports_cell, "Ports, node ports and protocols"),
                _AGE,
                PrinterColumn(
                    "Selector",
                    "string",
                    "",
                    "The pods the Service selects",
                    priority=1,
                    compute=services.selector_cell,
                ),
            ),
        ),
        ResourceType("", "v1", "endpoints", "endpoints", "Endpoints", True, ("ep",)),
        ResourceType("", "v1", "configmaps", "configmap", "ConfigMap", True, ("cm",)),
        ResourceType(
            "",
            "v1",
            "secrets",
            "secret",
            "Secret",
            True,
            field_selectors=_BASE_FIELDS | {"type"},
        ),
        ResourceType(
            "", "v1", "serviceaccounts", "serviceaccount", "ServiceAccount", True, ("sa",)
        ),
        ResourceType(
            "", "v1", "events", "event", "Event", True, ("ev",), field_selectors=_EVENT_FIELDS
        ),
        ResourceType(
            "events.k8s.io",
            "v1",
            "events",
            "event",
            "Event",
            True,
            ("ev",),
            field_selectors=_EVENTS_V1_FIELDS,
            to_version=_events_v1_out,
            from_version=_events_v1_in,
            storage_override="events",
        ),
        ResourceType(
            "discovery.k8s.io",
            "v1",
            "endpointslices",
            "endpointslice",
            "EndpointSlice",
            True,
        ),
        ResourceType("coordination.k8s.io", "v1", "leases", "lease", "Lease", True),
        ResourceType(
            "apps",
            "v1",
            "deployments",
            "deployment",
            "Deployment",
            True,
            ("deploy",),
            ("all",),
            subresources=_STATUS,
            tracks_generation=True,
        ),
        *_networking_types(),
        ResourceType(
            "policy",
            "v1",
            "poddisruptionbudgets",
            "poddisruptionbudget",
            "PodDisruptionBudget",
            True,
            ("pdb",),
            subresources=_STATUS,
            tracks_generation=True,
        ),
        *_rbac_types(),
        ResourceType(
            "apiextensions.k8s.io",
            "v1",
            "customresourcedefinitions",
            "customresourcedefinition",
            "CustomResourceDefinition",
            False,
            ("crd", "crds"),
            ("api-extensions",),
            subresources=_STATUS,
            tracks_generation=True,
        ),
        ResourceType(
            "admissionregistration.k8s.io",
            "v1",
            "mutatingwebhookconfigurations",
            "mutatingwebhookconfiguration",
            "MutatingWebhookConfiguration",
            False,
            ("api-extensions",),
            tracks_generation=True,
        ),
        ResourceType(
            "admissionregistration.k8s.io",
            "v1",
            "validatingwebhookconfigurations",
            "validatingwebhookconfiguration",
            "ValidatingWebhookConfiguration",
            False,
            ("api-extensions",),
            tracks_generation=True,
        ),
    ]


def _computed(name: str, compute: Callable[[Obj], Any], description: str) -> PrinterColumn:
    return PrinterColumn(name, "string", "", description, compute=compute)


_AGE = PrinterColumn(
    "Age",
    "date",
    ".metadata.creationTimestamp",
    "CreationTimestamp is a timestamp representing the server time when this object was created.",
)


def _networking_types() -> list[ResourceType]:
    """Ingress (with status) and IngressClass, validated as the real server does (networking)."""
    n = networking
    return [
        ResourceType(
            "networking.k8s.io",
            "v1",
            "ingresses",
            "ingress",
            "Ingress",
            True,
            ("ing",),
            subresources=_STATUS,
            tracks_generation=True,
            schema=netschemas.INGRESS_SCHEMA,
            printer_columns=(
                _computed("Class", n.ingress_class_cell, "The IngressClass of this Ingress"),
                _computed("Hosts", n.ingress_hosts_cell, "Hosts the rules match"),
                _computed("Address", n.load_balancer_cell, "Where the load balancer answers"),
                _computed("Ports", n.ingress_ports_cell, "Ports the Ingress serves"),
                _AGE,
            ),
        ),
        ResourceType(
            "networking.k8s.io",
            "v1",
            "ingressclasses",
            "ingressclass",
            "IngressClass",
            False,
            tracks_generation=True,
            schema=netschemas.INGRESS_CLASS_SCHEMA,
            printer_columns=(
                _computed("Controller", n.class_controller_cell, "The controller of the class"),
                _computed("Parameters", n.class_parameters_cell, "The class's parameters"),
                _AGE,
            ),
        ),
    ]


def _rbac_types() -> list[ResourceType]:
    """Stored for now; a later issue enforces them through the authorizer hook."""
    group = "rbac.authorization.k8s.io"
    return [
        ResourceType(group, "v1", plural, plural[:-1], kind, namespaced, name_rule="path")
        for plural, kind, namespaced in (
            ("roles", "Role", True),
            ("rolebindings", "RoleBinding", True),
            ("clusterroles", "ClusterRole", False),
            ("clusterrolebindings", "ClusterRoleBinding", False),
        )
    ]


def types_from_crd(crd: Obj) -> list[ResourceType]:
    """The served versions of a (validated) CustomResourceDefinition, storage version first."""
    spec = crd["spec"]
    names = spec["names"]
    group = spec["group"]
    namespaced = spec.get("scope", "Namespaced") == "Namespaced"
    out: list[ResourceType] = []
    for version in spec.get("versions") or []:
        if not version.get("served", True):
            continue
        columns = tuple(
            PrinterColumn(
                c["name"],
                c.get("type", "string"),
                c["jsonPath"],
                c.get("description", ""),
                c.get("format", ""),
                int(c.get("priority", 0)),
            )
            for c in version.get("additionalPrinterColumns") or []
        )
        out.append(
            ResourceType(
                group,
                version["name"],
                names["plural"],
                names.get("singular") or names["kind"].lower(),
                names["kind"],
                namespaced,
                tuple(names.get("shortNames") or ()),
                tuple(names.get("categories") or ()),
                subresources=frozenset(
                    k for k in (version.get("subresources") or {}) if k == "status"
                ),
                schema=(version.get("schema") or {}).get("openAPIV3Schema"),
                printer_columns=columns,
                tracks_generation=True,
                custom=True,
            )
        )
    out.sort(key=lambda t: not _is_storage(crd, t.version))
    return out


def _is_storage(crd: Obj, version: str) -> bool:
    return any(
        v.get("name") == version and v.get("storage") for v in crd["spec"].get("versions") or []
    )


class Registry:
    """Lookup of served resource types: by path segments, by storage key, by group."""

    def __init__(self) -> None:
        self._types: dict[tuple[str, str, str], ResourceType] = {}
        self._by_crd: dict[str, list[ResourceType]] = {}
        for rtype in builtin_types():
            self._types[(rtype.group, rtype.version, rtype.plural)] = rtype

    def lookup(self, group: str, version: str, plural: str) -> ResourceType | None:
        return self._types.get((group, version, plural))

    def all(self) -> list[ResourceType]:
        return list(self._types.values())

    def group_versions(self) -> dict[str, list[str]]:
        """Group -> versions, preferred (storage/first registered) version first."""
        out: dict[str, list[str]] = {}
        for group, version, _ in self._types:
            versions = out.setdefault(group, [])
            if version not in versions:
                versions.append(version)
        return out

    def in_group_version(self, group: str, version: str) -> list[ResourceType]:
        return [t for (g, v, _), t in self._types.items() if g == group and v == version]

    def register_crd(self, crd: Obj) -> None:
        self.unregister_crd(crd["metadata"]["name"])
        types = types_from_crd(crd)
        self._by_crd[crd["metadata"]["name"]] = types
        for rtype in types:
            self._types[(rtype.group, rtype.version, rtype.plural)] = rtype

    def unregister_crd(self, crd_name: str) -> list[ResourceType]:
        types = self._by_crd.pop(crd_name, [])
        for rtype in types:
            self._types.pop((rtype.group, rtype.version, rtype.plural), None)
        return types
