"""The binding as the controller caches it: the parsed spec, or why it could not be parsed.

A malformed binding must still be visible to the controller: it gets a Warning event and a
False ``Ready`` condition, and its deletion must still complete. So the informer's projection
never raises: :func:`binding_entry` keeps the identity and lifecycle facts of every binding and
either the parsed :class:`~lbc.core.binding.Binding` or the parse error's message.

The entry also keeps the status the binding carries (``Ready`` condition and target counts),
so the reconciler writes status only when it changes and keeps ``lastTransitionTime`` when the
condition's status does not change, across restarts too.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from lbc.core.binding import FINALIZER, Binding, BindingIdentity, identity_fields, parse_binding
from lbc.core.errors import TerminalError
from lbc.kube.client import TARGET_GROUP_BINDINGS
from lbc.kube.events import ObjectRef


@dataclass(frozen=True, slots=True)
class ReadyCondition:
    status: str
    reason: str
    message: str
    last_transition_time: str
    observed_generation: int | None


@dataclass(frozen=True, slots=True)
class TargetCounts:
    desired: int
    registered: int
    healthy: int


@dataclass(frozen=True, slots=True)
class BindingEntry(BindingIdentity):
    binding: Binding | None
    error: str | None
    ready: ReadyCondition | None
    counts: TargetCounts | None
    observed_generation: int | None

    @property
    def has_finalizer(self) -> bool:
        return FINALIZER in self.finalizers

    @property
    def ref(self) -> ObjectRef:
        """The binding as the ``involvedObject`` of its Events."""
        return ObjectRef(
            TARGET_GROUP_BINDINGS.api_version,
            TARGET_GROUP_BINDINGS.kind,
            self.namespace,
            self.name,
            self.uid,
        )


def _ready(status: Mapping[str, Any]) -> ReadyCondition | None:
    for cond in status.get("conditions") or ():
        if isinstance(cond, Mapping) and cond.get("type") == "Ready":
            gen = cond.get("observedGeneration")
            return ReadyCondition(
                str(cond.get("status", "")),
                str(cond.get("reason", "")),
                str(cond.get("message", "")),
                str(cond.get("lastTransitionTime", "")),
                gen if isinstance(gen, int) else None,
            )
    return None


def _counts(status: Mapping[str, Any]) -> TargetCounts | None:
    targets = status.get("targets")
    if not isinstance(targets, Mapping):
        return None
    values = [targets.get(k) for k in ("desired", "registered", "healthy")]
    if not all(isinstance(v, int) for v in values):
        return None
    desired, registered, healthy = (int(v) for v in values)  # type: ignore[arg-type]
    return TargetCounts(desired, registered, healthy)


def binding_entry(obj: Mapping[str, Any]) -> BindingEntry:
    """Project a raw TargetGroupBinding; never raises on a malformed spec."""
    meta = obj.get("metadata")
    meta = meta if isinstance(meta, Mapping) else {}
    status = obj.get("status")
    status = status if isinstance(status, Mapping) else {}
    binding: Binding | None
    try:
        binding = parse_binding(obj)
        error = None
    except TerminalError as exc:
        binding, error = None, str(exc)
    observed = status.get("observedGeneration")
    return BindingEntry(
        **identity_fields(meta),
        binding=binding,
        error=error,
        ready=_ready(status),
        counts=_counts(status),
        observed_generation=observed if isinstance(observed, int) else None,
    )
