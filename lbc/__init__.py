"""lbc: binds Kubernetes Services to AWS ELBv2 target groups, MultiCluster-safe."""

from importlib.metadata import PackageNotFoundError, version as _version

try:
    __version__ = _version("lbc")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
    __version__ = "0.0.0"

__all__ = ["__version__"]
