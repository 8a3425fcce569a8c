"""Where the deployment artifacts live and how the tests read them.

The manifests are rendered once per session with the real ``kubectl kustomize`` (kustomize v5
built into kubectl), so the tests check what an operator would apply, not the source files.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[3]
MANIFESTS = ROOT / "manifests"
CRD_FILE = MANIFESTS / "crds" / "targetgroupbindings.yaml"
EXAMPLES = MANIFESTS / "examples"
INVALID_EXAMPLES = EXAMPLES / "invalid"
IAM_POLICY = MANIFESTS / "iam" / "policy.json"
DOCKERFILE = ROOT / "Dockerfile"

KUBECTL = shutil.which("kubectl")
# The marks of a module whose tests run kubectl (kustomize, or a client against the lab).
NEEDS_KUBECTL = [
    pytest.mark.kubectl,
    pytest.mark.skipif(KUBECTL is None, reason="kubectl is not installed"),
]

Obj = dict[str, Any]


def render(directory: Path) -> list[Obj]:
    """The objects ``kubectl kustomize <directory>`` prints, in its order."""
    if KUBECTL is None:
        raise RuntimeError("kubectl is not installed")
    out = subprocess.run(
        [KUBECTL, "kustomize", str(directory)],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout
    return [doc for doc in yaml.safe_load_all(out) if doc]


def load_documents(path: Path) -> list[Obj]:
    with path.open() as fh:
        return [doc for doc in yaml.safe_load_all(fh) if doc]


def example_files() -> list[Path]:
    return sorted(EXAMPLES.glob("*.yaml"))


def find(objects: list[Obj], kind: str, name: str | None = None) -> Obj:
    """The one object of ``kind`` (and ``name``); fails loudly when missing or ambiguous."""
    hits = [
        o for o in objects if o["kind"] == kind and (name is None or o["metadata"]["name"] == name)
    ]
    if len(hits) != 1:
        raise LookupError(f"expected one {kind} {name or ''}, found {len(hits)}")
    return hits[0]


def crd_versions() -> dict[str, Obj]:
    (crd,) = load_documents(CRD_FILE)
    return {v["name"]: v for v in crd["spec"]["versions"]}


def walk_schema(schema: Obj, path: str = "") -> Iterator[tuple[str, Obj]]:
    """Every (dotted path, sub-schema) of an OpenAPI v3 schema's properties and items."""
    yield path, schema
    for name, sub in schema.get("properties", {}).items():
        yield from walk_schema(sub, f"{path}.{name}" if path else name)
    if "items" in schema:
        yield from walk_schema(schema["items"], f"{path}[]")
