"""``lbc inspect``: the read-only inspector's command line and exit statuses.

- ``lbc inspect target-group <arn|name> [--context C]… [--kubeconfig F]…``: who owns each
  target of a (shared) target group, across the given clusters.
- ``lbc inspect binding <namespace>/<name> [--context C | --kubeconfig F]``: the plan the daemon
  would execute for one binding now, computed with ``core.plan()``, and why.

Exit status: 0 when everything found is fine (target-group: only ``owned`` and ``draining``
targets, ``orphan`` too with ``--allow-orphans``, every source read; binding: converged), 1
otherwise (a finding, an unreachable cluster, an unreadable ledger), 2 on bad usage (including
a target group or binding that does not exist, or AWS refusing to describe the group).

AWS is configured like the daemon (``LBC_AWS_REGION``, ``LBC_AWS_ENDPOINT_URL``, the SDK's
credential chain); ``--region`` and ``--endpoint-url`` override. Nothing is written anywhere.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import sys
from collections.abc import Sequence
from typing import Any, TextIO

from botocore.exceptions import BotoCoreError

from lbc.core.errors import LbcError
from lbc.inspect.aws import open_target_groups
from lbc.inspect.explain import explain
from lbc.inspect.gather import (
    concurrently,
    read_binding,
    read_clusters,
    read_group_info,
    read_health,
)
from lbc.inspect.ownership import assess
from lbc.inspect.render import (
    binding_document,
    binding_table,
    dump,
    target_group_document,
    target_group_table,
)
from lbc.inspect.sources import InspectError, UsageError, open_clusters, resolve_sources
from lbc.settings import ConfigError, Settings, load_settings

EXIT_OK = 0
EXIT_FINDINGS = 1
EXIT_USAGE = 2
DEFAULT_TIMEOUT = 10.0


def _common(parser: argparse.ArgumentParser, *, several: bool) -> None:
    many = " (repeat for several clusters)" if several else ""
    for flag, metavar, what in (
        ("--context", "NAME", "kubeconfig context to read{}; default: the current context"),
        ("--kubeconfig", "FILE",
         "kubeconfig file{}; default: LBC_KUBECONFIG, KUBECONFIG, ~/.kube/config"),
    ):  # fmt: skip
        parser.add_argument(
            flag, action="append", default=[], metavar=metavar, help=what.format(many)
        )
    parser.add_argument(
        "-o", "--output", choices=("table", "json", "yaml"), default="table", help="output format"
    )
    parser.add_argument("--region", help="AWS region of the target group (default: LBC_AWS_REGION)")
    parser.add_argument(
        "--endpoint-url", help="ELBv2 endpoint override (default: LBC_AWS_ENDPOINT_URL)"
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_TIMEOUT,
        metavar="SECONDS",
        help=f"deadline of each Kubernetes request (default {DEFAULT_TIMEOUT:g})",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lbc inspect",
        description="Read-only views of target groups and bindings; writes nothing anywhere.",
    )
    sub = parser.add_subparsers(dest="what", metavar="WHAT")
    sub.required = True
    group = sub.add_parser(
        "target-group",
        help="who owns each target of a target group, across clusters",
        description="One row per target: zone, health, owning cluster/binding and a verdict "
        "(owned, orphan, double-claimed, missing, stale, draining, unknown).",
    )
    group.add_argument("group", metavar="ARN|NAME", help="target group ARN or name")
    group.add_argument(
        "--allow-orphans", action="store_true", help="orphan targets do not fail the exit status"
    )
    _common(group, several=True)
    binding = sub.add_parser(
        "binding",
        help="the plan the daemon would execute for one binding now, and why",
        description="Desired targets, ledger, registered targets and core.plan()'s plan.",
    )
    binding.add_argument("binding", metavar="NAMESPACE/NAME", help="the TargetGroupBinding")
    _common(binding, several=False)
    return parser


def _settings(args: argparse.Namespace) -> Settings:
    overrides: dict[str, Any] = {}
    if args.region:
        overrides["aws_region"] = args.region
    if args.endpoint_url:
        overrides["aws_endpoint_url"] = args.endpoint_url
    try:
        return load_settings(**overrides)
    except ConfigError as exc:
        raise UsageError(str(exc)) from None


async def inspect_target_group(args: argparse.Namespace, out: TextIO) -> int:
    settings = _settings(args)
    sources = resolve_sources(args.kubeconfig, args.context, settings.kubeconfig)
    async with (
        open_clusters(sources, timeout=args.timeout) as clusters,
        open_target_groups(settings) as groups,
    ):
        info = await read_group_info(groups, args.group)
        health, facts = await concurrently(
            lambda: read_health(groups, info.arn),
            lambda: read_clusters(clusters, info.arn, info.name),
        )
    ownership = assess(health, facts)
    if args.output == "table":
        out.write(target_group_table(info, facts, ownership))
    else:
        doc = target_group_document(info, facts, ownership, allow_orphans=args.allow_orphans)
        out.write(dump(doc, args.output))
    return EXIT_OK if ownership.healthy(allow_orphans=args.allow_orphans) else EXIT_FINDINGS


async def inspect_binding(args: argparse.Namespace, out: TextIO) -> int:
    namespace, sep, name = str(args.binding).partition("/")
    if not sep or not namespace or not name or "/" in name:
        raise UsageError(f"expected NAMESPACE/NAME, got {args.binding!r}")
    if len(args.context) > 1 or len(args.kubeconfig) > 1:
        raise UsageError("a binding lives in one cluster: give at most one --context/--kubeconfig")
    settings = _settings(args)
    sources = resolve_sources(args.kubeconfig, args.context, settings.kubeconfig)
    async with (
        open_clusters(sources, timeout=args.timeout) as clusters,
        open_target_groups(settings) as groups,
    ):
        inputs = await read_binding(clusters[0], namespace, name, groups)
    report = explain(inputs)
    if args.output == "table":
        out.write(binding_table(report))
    else:
        out.write(dump(binding_document(report), args.output))
    return EXIT_OK if report.converged else EXIT_FINDINGS


async def run(argv: Sequence[str], out: TextIO, err: TextIO) -> int:
    """``lbc inspect`` with ``argv`` (the words after ``inspect``) in a running event loop."""
    args = build_parser().parse_args(list(argv))
    inspect = inspect_target_group if args.what == "target-group" else inspect_binding
    try:
        return await inspect(args, out)
    except InspectError as exc:
        print(f"lbc inspect: {exc}", file=err)
        return exc.exit_status
    except LbcError as exc:
        # AWS refused or failed the describe after the SDK's retries: nothing to report on.
        print(f"lbc inspect: {exc}", file=err)
        return EXIT_USAGE
    except BotoCoreError as exc:
        # Raised while the clients are created (no region, no credentials configuration).
        print(f"lbc inspect: AWS is not configured: {exc}", file=err)
        return EXIT_USAGE


def main(argv: Sequence[str], out: TextIO | None = None, err: TextIO | None = None) -> int:
    """Run ``lbc inspect``; returns the exit status (argparse exits 2 itself on bad options).

    The cyclic garbage collector is off for the run: it is short, and reference counting frees
    what it allocates, while the collector would rescan the growing heap of parsed responses
    again and again (about a third of the CPU of an inspection of 5,000 targets).
    """
    gc.disable()
    try:
        return asyncio.run(run(argv, out or sys.stdout, err or sys.stderr))
    finally:
        gc.enable()
