"""The four PATCH flavours: JSON merge (RFC 7386), JSON patch (RFC 6902), strategic merge,
and the merge step of server-side apply.

Strategic merge is approximated: the merge key of a list is chosen by the list's field name
(``containers``/``env``/``volumes`` by ``name``, ``conditions``/``addresses`` by ``type``,
container ``ports`` by ``containerPort`` and service ``ports`` by ``port``,
``volumeMounts`` by ``mountPath``, ``ownerReferences`` by ``uid``; ``finalizers`` merge as a
set) instead of from the Go struct tags; other lists are replaced. The directives
``$patch: delete|replace|merge``, ``$deleteFromPrimitiveList/<field>`` and
``$setElementOrder/<field>`` (ignored) are understood; ``$retainKeys`` is not.
"""

from __future__ import annotations

import copy
from typing import Any

from lbc_lab.apiserver.status import ApiError

Obj = dict[str, Any]

_MERGE_KEYS = {
    "containers": "name",
    "initContainers": "name",
    "ephemeralContainers": "name",
    "env": "name",
    "volumes": "name",
    "imagePullSecrets": "name",
    "conditions": "type",
    "addresses": "type",
    "volumeMounts": "mountPath",
    "ownerReferences": "uid",
}
_SET_LISTS = frozenset({"finalizers"})


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386: objects merge recursively, null deletes, everything else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


# -- RFC 6902 ----------------------------------------------------------------------------------


def _pointer(path: str) -> list[str]:
    if path == "":
        return []
    if not path.startswith("/"):
        raise ApiError(422, f"invalid JSON pointer: {path!r}")
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def _parent(doc: Any, parts: list[str], op: str) -> tuple[Any, str]:
    node = doc
    for part in parts[:-1]:
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            raise ApiError(
                422,
                f"the server rejected our request due to an error in our "
                f"request: {op} operation does not apply: doc is missing path",
            )
    return node, parts[-1]


def _get(doc: Any, parts: list[str]) -> Any:
    node = doc
    for part in parts:
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            raise ApiError(422, "jsonpatch: doc is missing path: /" + "/".join(parts))
    return node


def json_patch(doc: Any, ops: Any) -> Any:
    """Apply RFC 6902 operations to a copy of ``doc``; a failed ``test`` is 422."""
    if not isinstance(ops, list):
        raise ApiError(400, "json patch must be a list of operations")
    doc = copy.deepcopy(doc)
    for op in ops:
        if not isinstance(op, dict) or "op" not in op or "path" not in op:
            raise ApiError(400, f"invalid json patch operation: {op!r}")
        kind = op["op"]
        parts = _pointer(op["path"])
        if kind == "test":
            if _get(doc, parts) != op.get("value"):
                raise ApiError(422, f"testing value {op['path']} failed: test failed")
            continue
        if kind in ("move", "copy"):
            value = copy.deepcopy(_get(doc, _pointer(op["from"])))
            if kind == "move":
                doc = _remove(doc, _pointer(op["from"]))
            doc = _add(doc, parts, value)
        elif kind == "add":
            doc = _add(doc, parts, copy.deepcopy(op.get("value")))
        elif kind == "remove":
            doc = _remove(doc, parts)
        elif kind == "replace":
            _get(doc, parts)
            doc = _remove(doc, parts)
            doc = _add(doc, parts, copy.deepcopy(op.get("value")))
        else:
            raise ApiError(400, f"unknown json patch operation {kind!r}")
    return doc


def _add(doc: Any, parts: list[str], value: Any) -> Any:
    if not parts:
        return value
    parent, last = _parent(doc, parts, "add")
    if isinstance(parent, dict):
        parent[last] = value
    elif isinstance(parent, list):
        index = len(parent) if last == "-" else int(last) if last.isdigit() else -1
        if not 0 <= index <= len(parent):
            raise ApiError(422, f"add operation does not apply: index {last} out of bounds")
        parent.insert(index, value)
    else:
        raise ApiError(422, "add operation does not apply: doc is missing path")
    return doc


def _remove(doc: Any, parts: list[str]) -> Any:
    parent, last = _parent(doc, parts, "remove")
    if isinstance(parent, dict) and last in parent:
        del parent[last]
    elif isinstance(parent, list) and last.isdigit() and int(last) < len(parent):
        del parent[int(last)]
    else:
        raise ApiError(
            422,
            "the server rejected our request due to an error in our request: "
            "remove operation does not apply: doc is missing path: /" + "/".join(parts),
        )
    return doc


# -- strategic merge -------------------------------------------------------------------------


def strategic_merge(target: Any, patch: Any, field: str = "") -> Any:
    """Strategic merge patch (see the module docstring for what is approximated)."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    if patch.get("$patch") == "replace":
        return {k: copy.deepcopy(v) for k, v in patch.items() if k != "$patch"}
    if patch.get("$patch") == "delete":
        return None
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if key == "$patch" or key.startswith("$setElementOrder/") or key == "$retainKeys":
            continue
        if key.startswith("$deleteFromPrimitiveList/"):
            name = key.split("/", 1)[1]
            current = result.get(name) or []
            result[name] = [v for v in current if v not in (value or [])]
            continue
        if value is None:
            result.pop(key, None)
            continue
        current = result.get(key)
        if isinstance(value, list) and isinstance(current, list):
            result[key] = _merge_list(key, current, value)
        elif isinstance(value, dict):
            merged = strategic_merge(current, value, key)
            if merged is None:
                result.pop(key, None)
            else:
                result[key] = merged
        else:
            result[key] = copy.deepcopy(value)
    return result


def _list_key(field: str, items: list[Any]) -> str | None:
    if field == "ports":
        sample = next((i for i in items if isinstance(i, dict)), {})
        return "containerPort" if "containerPort" in sample else "port"
    return _MERGE_KEYS.get(field)


def _merge_list(field: str, current: list[Any], patch: list[Any]) -> list[Any]:
    if field in _SET_LISTS:
        out = list(current)
        out.extend(v for v in patch if v not in out)
        return out
    key = _list_key(field, current + patch)
    if key is None or not all(isinstance(i, dict) for i in current + patch):
        return copy.deepcopy(patch)
    if any(isinstance(i, dict) and i.get("$patch") == "replace" for i in patch):
        return [copy.deepcopy(i) for i in patch if i.get("$patch") != "replace"]
    out = list(current)
    for item in patch:
        index = next((n for n, c in enumerate(out) if c.get(key) == item.get(key)), None)
        if item.get("$patch") == "delete":
            if index is not None:
                del out[index]
        elif index is None:
            out.append(copy.deepcopy(item))
        else:
            out[index] = strategic_merge(out[index], item, field)
    return out


# -- server-side apply -----------------------------------------------------------------------


def apply_merge(live: Obj, applied: Obj, gone: set[tuple[str, ...]]) -> Obj:
    """Merge an applied configuration into the live object, server-side-apply style.

    ``gone``: paths the manager applied before, no longer applies and nobody else owns
    (see ``managed``); they are removed. Conflicts are checked before (``managed.conflicts``).
    """
    merged = strategic_merge(live, applied)
    if not isinstance(merged, dict):
        raise ApiError(400, "an applied configuration must be an object")
    if gone:
        # Removal edits nested maps in place; they may still be shared with the live object.
        merged = copy.deepcopy(merged)
        for path in sorted(gone, key=len, reverse=True):
            node: Any = merged
            for part in path[:-1]:
                node = node.get(part) if isinstance(node, dict) else None
            if isinstance(node, dict):
                node.pop(path[-1], None)
    return merged
