"""``python -m lbc lab <emulator>``: run one lab emulator, or a whole lab world."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Sequence

EMULATORS = {
    "apiserver": ("lbc_lab.apiserver", "Kubernetes API server emulator"),
    "elb": ("lbc_lab.elb", "ELBv2 + EC2 emulator (moto with lbc's fidelity layer)"),
    "world": ("lbc_lab.world", "clusters, workload controllers, the ELBv2 lab, the seed's LB"),
}


def _usage() -> str:
    lines = ["usage: lbc lab {apiserver,elb,world} [options]", "", "emulators:"]
    lines += [f"  {name:<10} {about}" for name, (_, about) in EMULATORS.items()]
    return "\n".join(lines)


def main(argv: Sequence[str]) -> int:
    args = list(argv)
    if not args or args[0] in ("-h", "--help"):
        print(_usage(), file=sys.stdout if args else sys.stderr)
        return 0 if args else 2
    name, rest = args[0], args[1:]
    if name not in EMULATORS:
        print(_usage(), file=sys.stderr)
        print(f"lbc lab: unknown emulator {name!r}", file=sys.stderr)
        return 2
    module = importlib.import_module(EMULATORS[name][0])
    entry: Callable[[Sequence[str]], int] = module.main
    return entry(rest)
