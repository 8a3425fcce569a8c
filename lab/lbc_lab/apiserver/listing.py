"""List pages: selectors, limit/continue, and the resourceVersion a list reports.

Continue tokens carry the list's resourceVersion and the last key served; the next page
resumes strictly after that key in (namespace, name) order. The lab serves later pages from
the current state rather than a snapshot (a real server reads etcd at the list's revision):
an object created behind the cursor meanwhile is not seen, one created ahead of it is. A token
older than the watch history is refused with 410 Expired, as etcd compaction would.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass

import orjson

from lbc_lab.apiserver.resources import ResourceType
from lbc_lab.apiserver.selectors import FieldSelector, LabelSelector
from lbc_lab.apiserver.status import ApiError, bad_request
from lbc_lab.apiserver.store import Key, Obj, Store

_EXPIRED_CONTINUE = (
    "The provided continue parameter is too old to display a consistent list result. You can "
    "start a new list without the continue parameter, or use the continue token in this "
    "response to retrieve the remainder of the results. Continuing with the provided token "
    "results in an inconsistent list - objects that were created, modified, or deleted "
    "between the time the first chunk was returned and now may show up in the list."
)


@dataclass(frozen=True, slots=True)
class ListPage:
    items: list[Obj]
    resource_version: int
    continue_token: str
    remaining: int | None


def list_page(
    store: Store,
    rtype: ResourceType,
    namespace: str | None,
    labels: LabelSelector,
    fields: FieldSelector,
    *,
    limit: int = 0,
    token: str = "",
) -> ListPage:
    ns = namespace if rtype.namespaced else None
    list_rv = store.rv
    after: Key | None = None
    if token:
        list_rv, after = decode_continue(token)
        if list_rv < store.floor:
            raise ApiError(410, _EXPIRED_CONTINUE)
    pinned = fields.exact_name()
    if pinned is not None and after is None and (ns is not None or not rtype.namespaced):
        # metadata.name=x (kubectl delete --wait, informers on one object): O(1).
        hits: list[Obj] = []
        one = store.get(rtype.storage, ns or "", pinned)
        if one is not None:
            view = one if rtype.to_version is None else rtype.to_version(one)
            if labels.matches(view) and fields.matches(view):
                hits.append(one)
        return ListPage(hits, list_rv, "", None)
    keys = store.keys(rtype.storage, ns, after)
    items: list[Obj] = []
    filtering = not (labels.empty and fields.empty)
    last: Key | None = None
    scanned = 0
    # Selectors name fields of the requested version (events.k8s.io's ``regarding.name``).
    shaped = rtype.to_version
    for key in keys:
        obj = store.get(rtype.storage, key[0], key[1])
        scanned += 1
        if obj is None:
            continue
        if filtering:
            view = shaped(obj) if shaped is not None else obj
            if not (labels.matches(view) and fields.matches(view)):
                continue
        items.append(obj)
        last = key
        if limit and len(items) >= limit:
            break
    more = limit > 0 and last is not None and scanned < len(keys)
    next_token = encode_continue(list_rv, last) if more and last is not None else ""
    remaining = len(keys) - scanned if more and not filtering else None
    return ListPage(items, list_rv, next_token, remaining)


def encode_continue(rv: int, last: Key) -> str:
    raw = orjson.dumps({"v": "meta.k8s.io/v1", "rv": rv, "start": list(last)})
    return base64.urlsafe_b64encode(raw).decode()


def decode_continue(token: str) -> tuple[int, Key]:
    try:
        data = orjson.loads(base64.urlsafe_b64decode(token.encode()))
        return int(data["rv"]), (str(data["start"][0]), str(data["start"][1]))
    except (ValueError, KeyError, IndexError, TypeError) as exc:
        raise bad_request(f"continue key is not valid: {exc}") from exc
