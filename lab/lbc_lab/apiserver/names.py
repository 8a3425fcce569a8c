"""Object name and label syntax, with the real validators' messages.

The seed document prints a binding named in CamelCase; a real API server rejects it
with 422 on ``metadata.name``, and so must the lab, or a test would bless a manifest that fails
in production.
"""

from __future__ import annotations

import re
from typing import Any

from lbc_lab.apiserver.status import CauseList

_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS1035 = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
_QUALIFIED_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")

SUBDOMAIN_MSG = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or "
    "'.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used "
    "for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
)
LABEL_MSG = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and "
    "must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex "
    "used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
)
DNS1035_MSG = (
    "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an "
    "alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or "
    "'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')"
)
LABEL_VALUE_MSG = (
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or "
    "'.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or "
    "'my_value',  or '12345', regex used for validation is "
    "'(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"
)

#: Name rules by kind of name: (pattern, message, max length).
RULES = {
    "subdomain": (_SUBDOMAIN, SUBDOMAIN_MSG, 253),
    "label": (_LABEL, LABEL_MSG, 63),
    "dns1035": (_DNS1035, DNS1035_MSG, 63),
}


def check_name(rule: str, name: str, causes: CauseList, path: str = "metadata.name") -> None:
    if rule == "path":
        # RBAC objects only need to be a valid URL path segment ("system:controller:x").
        if name in (".", ".."):
            causes.bad_value(path, name, f"may not be '{name}'")
        for bad in ("/", "%"):
            if bad in name:
                causes.bad_value(path, name, f"may not contain '{bad}'")
        return
    pattern, message, limit = RULES[rule]
    if len(name) > limit:
        causes.bad_value(path, name, f"must be no more than {limit} characters")
    if not pattern.match(name):
        causes.bad_value(path, name, message)


def check_labels(labels: Any, causes: CauseList) -> None:
    if labels is None:
        return
    if not isinstance(labels, dict):
        causes.bad_value("metadata.labels", labels, "must be a map of strings")
        return
    for key, value in labels.items():
        check_qualified_key(key, causes, "metadata.labels")
        if not isinstance(value, str):
            causes.bad_value("metadata.labels", value, "label values must be strings")
        elif len(value) > 63 or not _LABEL_VALUE.match(value):
            causes.bad_value("metadata.labels", value, LABEL_VALUE_MSG)


def check_qualified_key(key: str, causes: CauseList, path: str) -> None:
    """Label and annotation keys: an optional DNS subdomain prefix, then a 63-char name."""
    prefix, _, name = key.rpartition("/")
    if prefix and (len(prefix) > 253 or not _SUBDOMAIN.match(prefix)):
        causes.bad_value(path, key, "prefix part " + SUBDOMAIN_MSG)
    if len(name) > 63 or not _QUALIFIED_NAME.match(name):
        causes.bad_value(
            path,
            key,
            "name part must consist of alphanumeric characters, '-', '_' or '.', and must "
            "start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or "
            "'123-abc', regex used for validation is "
            "'([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')",
        )
