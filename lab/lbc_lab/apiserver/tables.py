"""``Table`` responses for ``kubectl get``: printer columns evaluated by JSONPath.

kubectl asks for ``application/json;as=Table;v=v1;g=meta.k8s.io`` and prints what the server
returns. Custom resources get Name plus their CRD's additionalPrinterColumns (Name and Age when
the CRD declares none, as the real server defaults them); built-ins get Name and Age, except
the kinds whose printers the lab reproduces with computed columns (``PrinterColumn.compute``).

JSONPath support: ``.a.b``, ``[n]``, ``[*]``, and ``[?(@.key=="value")]`` filters; several
results are joined with commas.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from lbc_lab.apiserver.resources import PrinterColumn, ResourceType

Obj = dict[str, Any]

_NAME = {
    "name": "Name",
    "type": "string",
    "format": "name",
    "description": "Name must be unique within a namespace. It is required when creating "
    "resources, although some resources may allow a client to request the generation of an "
    "appropriate name automatically.",
    "priority": 0,
}
_AGE = PrinterColumn(
    "Age",
    "date",
    ".metadata.creationTimestamp",
    "CreationTimestamp is a timestamp representing the server time when this object was created.",
)
_STEP = re.compile(r"\.([^.\[]+)|\[(\d+|\*)\]|\[\?\(@\.([\w.-]+)\s*==\s*[\"']([^\"']*)[\"']\)\]")


def columns_of(rtype: ResourceType) -> tuple[PrinterColumn, ...]:
    return rtype.printer_columns or (_AGE,)


def column_definitions(rtype: ResourceType) -> list[Obj]:
    return [dict(_NAME)] + [
        {
            "name": col.name,
            "type": col.type,
            "format": col.format,
            "description": col.description,
            "priority": col.priority,
        }
        for col in columns_of(rtype)
    ]


def jsonpath(obj: Any, path: str) -> list[Any]:
    """Evaluate the subset of JSONPath that printer columns use (``{...}`` braces optional)."""
    path = path.strip()
    if path.startswith("{") and path.endswith("}"):
        path = path[1:-1]
    nodes: list[Any] = [obj]
    pos = 0
    while pos < len(path):
        match = _STEP.match(path, pos)
        if match is None:
            return []
        pos = match.end()
        field, index, fkey, fvalue = match.groups()
        nxt: list[Any] = []
        for node in nodes:
            if field is not None and isinstance(node, dict) and field in node:
                nxt.append(node[field])
            elif index == "*" and isinstance(node, list):
                nxt.extend(node)
            elif index is not None and index != "*" and isinstance(node, list):
                if int(index) < len(node):
                    nxt.append(node[int(index)])
            elif fkey is not None and isinstance(node, list):
                nxt.extend(
                    item for item in node if _first_str(jsonpath(item, "." + fkey)) == fvalue
                )
        nodes = nxt
    return nodes


def _first_str(values: list[Any]) -> str:
    return "" if not values else str(values[0])


def human_age(since: datetime, now: datetime) -> str:
    """kubectl's age rendering (apimachinery's HumanDuration)."""
    seconds = int((now - since).total_seconds())
    if seconds < -1:
        return "<invalid>"
    seconds = max(seconds, 0)
    minutes, hours = seconds // 60, seconds // 3600
    if seconds < 120:
        return f"{seconds}s"
    if minutes < 10:
        rest = seconds % 60
        return f"{minutes}m{rest}s" if rest else f"{minutes}m"
    if minutes < 180:
        return f"{minutes}m"
    if hours < 8:
        rest = minutes % 60
        return f"{hours}h{rest}m" if rest else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        rest = hours % 24
        return f"{hours // 24}d{rest}h" if rest else f"{hours // 24}d"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        days = (hours // 24) % 365
        return f"{hours // (24 * 365)}y{days}d" if days else f"{hours // (24 * 365)}y"
    return f"{hours // (24 * 365)}y"


def _cell(col: PrinterColumn, obj: Obj, now: datetime) -> Any:
    if col.compute is not None:
        return col.compute(obj)
    values = jsonpath(obj, col.json_path)
    if not values:
        return None
    value = values[0] if len(values) == 1 else ",".join(str(v) for v in values)
    if col.type == "date" and isinstance(value, str):
        try:
            moment = datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        except ValueError:
            return value
        return human_age(moment, now)
    if col.type == "integer" and isinstance(value, (int, float)) and not isinstance(value, bool):
        return int(value)
    if col.type in ("string",) and isinstance(value, (dict, list)):
        return str(value)
    return value


def row(rtype: ResourceType, obj: Obj, include: str, now: datetime) -> Obj:
    cells: list[Any] = [obj["metadata"]["name"]]
    cells.extend(_cell(col, obj, now) for col in columns_of(rtype))
    out: Obj = {"cells": cells}
    if include == "Object":
        out["object"] = obj
    elif include != "None":
        out["object"] = partial_metadata(obj)
    return out


def partial_metadata(obj: Obj) -> Obj:
    return {
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": obj["metadata"],
    }


def table(
    rtype: ResourceType,
    objs: list[Obj],
    *,
    include: str,
    now: datetime,
    metadata: Obj,
    with_columns: bool = True,
) -> Obj:
    out: Obj = {"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": metadata}
    if with_columns:
        out["columnDefinitions"] = column_definitions(rtype)
    out["rows"] = [row(rtype, o, include, now) for o in objs]
    return out
