"""The ledger informer: metadata-only list and watch against full bodies.

Run: ``.venv/bin/python -m lbc bench --only configmaps``.

The daemon watches ConfigMaps cluster-wide for one thing: a ledger's resourceVersion (ledgers are
read fresh when a binding is reconciled). A cluster's ConfigMaps are mostly not ledgers and can
be large (CA bundles, dashboards, application configuration). A lab API server in a process of
its own holds 2,000 ConfigMaps of 16 KiB plus 100 ledgers; in this process an informer with the
daemon's projection (:func:`lbc.control.controller.ledger_version`) and page size syncs once with
full bodies and once metadata-only. Figures: bytes of the list responses, the client's CPU time
and its peak of allocated memory (tracemalloc) while syncing, and the ratios.
"""

from __future__ import annotations

import asyncio
import os
import time
import tracemalloc
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from lbc.control.controller import ledger_version
from lbc.control.keyed import LIST_PAGE_SIZE
from lbc.kube.client import CONFIG_MAPS, JSON, METADATA_ONLY, KubeClient
from lbc.kube.informer import Informer

from lbc_lab.apiserver.process import LabApiServerProcess
from lbc_lab.kube_fixtures import api_client_for
from tests.perf.benchlab import scaled
from tests.perf.conftest import record

pytestmark = [
    pytest.mark.skipif(not os.environ.get("LBC_BENCH"), reason="benchmark"),
    pytest.mark.timeout(300),
]

OTHERS = scaled(2000)
LEDGERS = scaled(100)
BODY = 16 << 10


def _config_map(name: str, data: dict[str, str]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": "default"},
        "data": data,
    }


async def _fill(kube: KubeClient) -> None:
    gate = asyncio.Semaphore(16)
    blob = "x" * BODY

    async def one(obj: dict[str, Any]) -> None:
        async with gate:
            await kube.create(CONFIG_MAPS, obj, "default")

    made = [_config_map(f"app-config-{i:05d}", {"config.yaml": blob}) for i in range(OTHERS)]
    made += [
        _config_map(f"aws-lbc-targets-svc-{i:04d}", {"targets": "10.0.0.1:8080,10.0.0.2:8080"})
        for i in range(LEDGERS)
    ]
    await asyncio.gather(*(one(obj) for obj in made))


async def _list_bytes(url: str, accept: str) -> int:
    """Bytes of every page of the list as the informer pages it (the lab serves plain HTTP)."""
    headers = {"Accept": accept}
    total, cont = 0, ""
    async with aiohttp.ClientSession() as session:
        while True:
            query = f"limit={LIST_PAGE_SIZE}" + (f"&continue={cont}" if cont else "")
            async with session.get(f"{url}/api/v1/configmaps?{query}", headers=headers) as resp:
                body = await resp.read()
                total += len(body)
                page = await resp.json(content_type=None)
            cont = page["metadata"].get("continue", "")
            if not cont:
                return total


async def _sync(kube: KubeClient, *, metadata_only: bool) -> tuple[float, float, int, int]:
    """Wall seconds, CPU seconds and peak allocated bytes of one informer sync; ledgers kept."""
    informer = Informer(
        kube, CONFIG_MAPS, ledger_version, page_size=LIST_PAGE_SIZE, metadata_only=metadata_only
    )
    tracemalloc.start()
    wall, cpu = time.perf_counter(), time.process_time()
    task = asyncio.create_task(informer.run())
    try:
        await asyncio.wait_for(informer.wait_synced(), 120)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    kept = sum(1 for _k, v in informer.store.items() if v is not None)
    return wall, cpu, peak, kept


async def test_metadata_only_ledger_informer_costs_a_fraction_of_full_bodies(
    tmp_path: Path,
) -> None:
    with LabApiServerProcess(kubeconfig_path=tmp_path / "kubeconfig") as api:
        client = await api_client_for(api.kubeconfig_path)
        try:
            kube = KubeClient(client)
            await _fill(kube)
            full_bytes = await _list_bytes(api.url, JSON)
            meta_bytes = await _list_bytes(api.url, METADATA_ONLY)
            full = await _sync(kube, metadata_only=False)
            meta = await _sync(kube, metadata_only=True)
        finally:
            await client.close()
    assert full[3] == meta[3] == LEDGERS
    size = f"{OTHERS:,} ConfigMaps of {BODY >> 10} KiB + {LEDGERS} ledgers"
    record("configmaps: list bytes, full bodies", full_bytes / 1e6, "MB", size)
    record("configmaps: list bytes, metadata only", meta_bytes / 1e6, "MB", "same list")
    record("configmaps: sync CPU, full bodies", full[1] * 1e3, "ms", "client process only")
    record("configmaps: sync CPU, metadata only", meta[1] * 1e3, "ms", "client process only")
    record(
        "configmaps: peak allocated while syncing, full / metadata only",
        full[2] / meta[2],
        "ratio",
        f"{full[2] / 1e6:.1f} MB vs {meta[2] / 1e6:.1f} MB (tracemalloc)",
    )
    record(
        "configmaps: sync CPU, full / metadata only",
        full[1] / meta[1],
        "ratio",
        f"{full[0]:.2f} s vs {meta[0]:.2f} s wall",
    )
