"""The command line: ``python -m lbc {run,lab,demo,inspect,bench,version}``.

Subcommands import what they need lazily, so ``lbc version`` and ``--help`` start fast and the
daemon never loads the lab.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from collections.abc import Callable, Sequence
from importlib.metadata import entry_points
from pathlib import Path
from typing import Final

from lbc import __version__
from lbc.settings import ConfigError, load_settings

EXIT_USAGE = 2


def _cmd_version(_args: argparse.Namespace) -> int:
    print(f"lbc {__version__}")
    return 0


def _cmd_run(_args: argparse.Namespace) -> int:
    try:
        settings = load_settings()
    except ConfigError as exc:
        print(f"lbc: {exc}", file=sys.stderr)
        return EXIT_USAGE
    # The daemon's imports are paid only by `run`.
    from lbc import app  # noqa: PLC0415
    from lbc.control.controller import binding_controllers  # noqa: PLC0415

    return app.main(settings, binding_controllers)


def _cmd_lab(args: argparse.Namespace) -> int:
    return _lab(args.lab_args)


def _cmd_demo(args: argparse.Namespace) -> int:
    return _demo(args.demo_args)


LAB_COMMANDS: Final = "lbc.commands"


def _plugin(name: str) -> Callable[[Sequence[str]], int] | None:
    """The entry point another distribution registers for ``lbc <name>``, if installed.

    The lab (``lbc-lab``, in ``lab/``) registers ``lab`` and ``demo`` here, so this package never
    imports it: the daemon's wheel and image carry no emulator code.
    """
    for entry in entry_points(group=LAB_COMMANDS, name=name):
        loaded: Callable[[Sequence[str]], int] = entry.load()
        return loaded
    return None


def _lab(words: Sequence[str]) -> int:
    return _run_plugin("lab", words)


def _demo(words: Sequence[str]) -> int:
    return _run_plugin("demo", words)


def _run_plugin(name: str, words: Sequence[str]) -> int:
    command = _plugin(name)
    if command is None:
        print(
            f"lbc: `{name}` needs the lab, which is not installed "
            "(`make dev`, or `pip install -e ./lab` from a source checkout)",
            file=sys.stderr,
        )
        return EXIT_USAGE
    return command(words)


def _inspect(words: Sequence[str]) -> int:
    from lbc.inspect import command  # noqa: PLC0415 - AWS and Kubernetes clients load on use

    return command.main(words)


_PASS_THROUGH: dict[str, Callable[[Sequence[str]], int]] = {
    "lab": _lab,
    "demo": _demo,
    "inspect": _inspect,
}


def _cmd_bench(args: argparse.Namespace) -> int:
    perf = Path(args.path)
    if not perf.is_dir():
        print(f"lbc: benchmarks not found at {perf} (run from a source checkout)", file=sys.stderr)
        return EXIT_USAGE
    if args.readme:
        # Regenerate the README's table from the figures of the last run (no benchmark runs).
        source = args.json or os.environ.get("LBC_BENCH_JSON") or "build/bench.json"
        report = [sys.executable, str(perf / "report.py"), source, args.readme]
        return subprocess.call(report)  # noqa: S603 - fixed argv
    # `--only scale` names one benchmark file (bench_scale.py); anything else is a pytest
    # -k expression over test names (where "restart" picks every restart test).
    one = perf / f"bench_{args.only}.py"
    target = one if args.only and one.is_file() else perf
    cmd = [sys.executable, "-m", "pytest", str(target), "-q", "-s", "-p", "no:cacheprovider"]
    # The project's norecursedirs leaves tests/perf out of `make test`; here it must go in.
    cmd += ["-o", "norecursedirs=.* build dist *.egg venv node_modules"]
    cmd += ["-o", "timeout=600", "-o", "python_files=bench_*.py", "--durations=0"]
    if args.only and target == perf:
        cmd += ["-k", args.only]
    env = {**os.environ, "LBC_BENCH": "1", "LBC_BENCH_ONLY": args.only}
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        env["LBC_BENCH_JSON"] = args.json
    return subprocess.call(cmd, env=env)  # noqa: S603 - fixed argv


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lbc",
        description=(
            "Binds Kubernetes Services to AWS ELBv2 target groups (TargetGroupBinding), "
            "with MultiCluster target groups."
        ),
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    def add(
        name: str, help_: str, fn: Callable[[argparse.Namespace], int]
    ) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_, description=help_)
        p.set_defaults(fn=fn)
        return p

    add("run", "run the reconciliation daemon (configured by LBC_* variables)", _cmd_run)
    lab = add("lab", "run a lab emulator or a lab world: apiserver | elb | world", _cmd_lab)
    lab.add_argument("lab_args", nargs="*", help="apiserver | elb | world, and its options")
    demo = add("demo", "the two-cluster shared target group scenario on the lab", _cmd_demo)
    demo.add_argument("demo_args", nargs="*", help="demo options (e.g. --keep-logs DIR)")
    inspect = add(
        "inspect",
        "read-only: who owns each target of a shared group; a binding's plan now",
        lambda args: _inspect(args.inspect_args),
    )
    inspect.add_argument("inspect_args", nargs="*", help="target-group ARN|NAME | binding NS/NAME")
    bench = add("bench", "run the benchmarks in tests/perf and print their figures", _cmd_bench)
    bench.add_argument("--path", default="tests/perf", help="folder of the benchmarks")
    bench.add_argument(
        "--only",
        default="",
        help="one benchmark (NAME runs bench_NAME.py), or a pytest -k expression",
    )
    bench.add_argument(
        "--json", default="", help="write the figures there as JSON (default: LBC_BENCH_JSON)"
    )
    bench.add_argument(
        "--readme",
        default="",
        metavar="README",
        help="do not run: regenerate README's benchmark table from --json (build/bench.json)",
    )
    add("version", "print the version", _cmd_version)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    words = list(sys.argv[1:] if argv is None else argv)
    # `lab` and `demo` parse their own options (and answer --help themselves).
    if words and words[0] in _PASS_THROUGH:
        return _PASS_THROUGH[words[0]](words[1:])
    parser = build_parser()
    args = parser.parse_args(words)
    fn: Callable[[argparse.Namespace], int] = args.fn
    return fn(args)
