"""managedFields: which field manager owns which fields, as server-side apply needs.

Ownership is tracked as sets of paths (maps are recursed into, lists are owned whole):

- an ``Apply`` by a manager replaces its set with the applied configuration's fields; fields
  in its previous set that it no longer applies, and nobody else owns, are removed from the
  object;
- an ``Update`` (create, PUT, non-apply PATCH) with a ``fieldManager`` adds the fields it
  changed to that manager's set;
- an ``Apply`` without ``force`` that would change the value of a field another manager owns
  is refused with 409 and one cause per field (``conflicts``); with ``force``, or for other
  writes, ownership of the fields a write sets moves to the writer (it is not shared).

Only ``metadata.labels``, ``metadata.annotations`` and ``metadata.finalizers`` are tracked
under metadata.
"""

from __future__ import annotations

from typing import Any

Obj = dict[str, Any]
Path = tuple[str, ...]
_META_TRACKED = ("labels", "annotations", "finalizers")


def paths_of(value: Any, prefix: Path = ()) -> set[Path]:
    """The leaf paths a configuration sets."""
    out: set[Path] = set()
    if not isinstance(value, dict):
        return out
    for key, sub in value.items():
        if not prefix and key in ("apiVersion", "kind"):
            continue
        if not prefix and key == "metadata":
            if isinstance(sub, dict):
                out |= paths_of({k: v for k, v in sub.items() if k in _META_TRACKED}, ("metadata",))
            continue
        path = (*prefix, key)
        if isinstance(sub, dict) and sub:
            out |= paths_of(sub, path)
        else:
            out.add(path)
    return out


def changed_paths(old: Any, new: Any, prefix: Path = ()) -> set[Path]:
    """Leaf paths whose value differs between two objects (added, changed or removed)."""
    if not isinstance(old, dict) or not isinstance(new, dict):
        return {prefix} if old != new and prefix else set()
    out: set[Path] = set()
    for key in set(old) | set(new):
        if not prefix and key in ("apiVersion", "kind"):
            continue
        if not prefix and key == "metadata":
            old_meta = {k: v for k, v in (old.get(key) or {}).items() if k in _META_TRACKED}
            new_meta = {k: v for k, v in (new.get(key) or {}).items() if k in _META_TRACKED}
            out |= changed_paths(old_meta, new_meta, ("metadata",))
            continue
        if old.get(key) != new.get(key):
            out |= changed_paths(old.get(key), new.get(key), (*prefix, key))
    return out


def to_fields_v1(paths: set[Path]) -> Obj:
    tree: Obj = {}
    for path in sorted(paths):
        node = tree
        for part in path:
            node = node.setdefault(f"f:{part}", {})
    return tree


def from_fields_v1(fields: Obj | None, prefix: Path = ()) -> set[Path]:
    out: set[Path] = set()
    for key, sub in (fields or {}).items():
        if not key.startswith("f:"):
            continue
        path = (*prefix, key[2:])
        if sub:
            out |= from_fields_v1(sub, path)
        else:
            out.add(path)
    return out


def _covers(owned: set[Path], path: Path) -> bool:
    return any(path[: len(o)] == o or o[: len(path)] == path for o in owned)


def record(
    entries: list[Obj],
    manager: str,
    *,
    operation: str,
    api_version: str,
    now: str,
    touched: set[Path],
) -> tuple[list[Obj], set[Path]]:
    """New managedFields after ``manager`` wrote ``touched``; also what an Apply dropped.

    The second value is the set of paths the manager previously applied, no longer applies
    and no other manager owns: the caller removes them from the object.
    """
    previous: set[Path] = set()
    kept: list[Obj] = []
    for entry in entries:
        if entry.get("manager") == manager and entry.get("operation") == operation:
            previous = from_fields_v1(entry.get("fieldsV1"))
            continue
        owned = {p for p in from_fields_v1(entry.get("fieldsV1")) if not _covers(touched, p)}
        if owned:
            kept.append({**entry, "fieldsV1": to_fields_v1(owned)})
    mine = touched if operation == "Apply" else previous | touched
    kept.append(
        {
            "manager": manager,
            "operation": operation,
            "apiVersion": api_version,
            "time": now,
            "fieldsType": "FieldsV1",
            "fieldsV1": to_fields_v1(mine),
        }
    )
    dropped: set[Path] = set()
    if operation == "Apply":
        others = set().union(*(from_fields_v1(e.get("fieldsV1")) for e in kept[:-1]))
        dropped = {p for p in previous - touched if not _covers(touched, p) and p not in others}
    return kept, dropped


def value_at(obj: Any, path: Path) -> Any:
    node = obj
    for part in path:
        if not isinstance(node, dict) or part not in node:
            return _MISSING
        node = node[part]
    return node


_MISSING = object()


def conflicts(
    entries: list[Obj], manager: str, touched: set[Path], live: Obj, applied: Obj
) -> list[tuple[str, str, str]]:
    """(``.a.b`` field, other manager, its apiVersion) for each field an apply would take over.

    Only fields whose value would actually change conflict, as on a real server.
    """
    out: list[tuple[str, str, str]] = []
    for entry in entries:
        if entry.get("manager") == manager and entry.get("operation") == "Apply":
            continue
        for path in sorted(from_fields_v1(entry.get("fieldsV1"))):
            if path in touched and value_at(live, path) != value_at(applied, path):
                field = "." + ".".join(path)
                out.append((field, str(entry.get("manager", "")), str(entry.get("apiVersion", ""))))
    return out
