"""The daemon's configuration: one frozen model read from ``LBC_*`` environment variables.

The variable names are a contract with users, manifests and tooling: they may gain siblings but
never change. Durations accept plain seconds (``15``, ``0.5``) or Go-style strings (``15s``,
``2m``, ``1h30m``, ``250ms``) because operators copy them from the reference controller's flags.

``ConfigError`` carries one human line naming the variable and the reason; the CLI prints it and
exits 2 without a traceback.
"""

from __future__ import annotations

import math
import re
from typing import Annotated, Any, Literal

from pydantic import AliasChoices, BeforeValidator, Field, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

ENV_PREFIX = "LBC_"

_GO_DURATION = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
_UNIT_SECONDS = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
}


def parse_duration(value: object) -> float:
    """Seconds from a number or a Go duration string; negative or malformed input is refused."""
    if isinstance(value, bool):
        # ValueError, not TypeError: pydantic turns only ValueError into a validation error.
        raise ValueError("expected a duration such as 15, 0.5, 15s or 2m")  # noqa: TRY004
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str):
        text = value.strip()
        if not text:
            raise ValueError("expected a duration such as 15, 0.5, 15s or 2m, got an empty string")
        try:
            seconds = float(text)
        except ValueError:
            pos = 0
            seconds = 0.0
            for match in _GO_DURATION.finditer(text):
                if match.start() != pos:
                    break
                seconds += float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
                pos = match.end()
            if pos != len(text) or pos == 0:
                raise ValueError(
                    f"{value!r} is not a duration (use seconds like 15 or 0.5, or 15s, 2m, 1h30m)"
                ) from None
    else:
        raise ValueError("expected a duration such as 15, 0.5, 15s or 2m")  # noqa: TRY004
    if seconds < 0 or math.isnan(seconds):
        raise ValueError(f"{value!r} must be a non-negative duration")
    return seconds


Duration = Annotated[float, BeforeValidator(parse_duration)]
"""Seconds, from a number or a Go duration string; never negative (:func:`parse_duration`)."""
# The bound comes before the validator so that pydantic checks it on the parsed float, as a
# field's own ``gt=0`` does (after it, the error would quote the raw string instead).
PositiveDuration = Annotated[float, Field(gt=0), BeforeValidator(parse_duration)]
"""A :data:`Duration` that must be more than zero (periods, deadlines, delays)."""


STACK_KINDS = frozenset({"ingress", "service"})
"""The values ``LBC_STACKS`` accepts."""

TRACKING_TAG_KEYS = frozenset(
    {
        "elbv2.k8s.aws/cluster",
        "elbv2.k8s.aws/resource",
        "ingress.k8s.aws/cluster",
        "ingress.k8s.aws/stack",
        "ingress.k8s.aws/resource",
        "service.k8s.aws/stack",
        "service.k8s.aws/resource",
    }
)
"""Keys lbc writes itself on stack resources; no default tag may claim them."""


class ConfigError(Exception):
    """Invalid configuration: ``str(err)`` is one line naming the variable and the reason."""


class Settings(BaseSettings):
    """Everything the daemon reads from its environment (prefix ``LBC_``)."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        frozen=True,
        extra="ignore",
        case_sensitive=False,
        populate_by_name=True,
    )

    kubeconfig: str | None = Field(
        default=None,
        validation_alias=AliasChoices("LBC_KUBECONFIG", "KUBECONFIG"),
        description="Path to a kubeconfig; else `KUBECONFIG`; else the in-cluster service account.",
    )
    kube_context: str | None = Field(
        default=None, description="Context of the kubeconfig to use (default: its current one)."
    )
    aws_region: str | None = Field(
        default=None,
        description="AWS region of the target groups (default: the SDK's own resolution).",
    )
    aws_endpoint_url: str | None = Field(
        default=None,
        description="Override of the ELBv2 and EC2 endpoint; the lab sets it to its own server.",
    )
    aws_max_attempts: int = Field(
        default=5, ge=1, le=20, description="Attempts per AWS call, retries included."
    )
    aws_retry_mode: Literal["standard", "adaptive"] = Field(
        default="standard",
        description=(
            "botocore retry mode for AWS calls (adaptive also slows other calls of the client "
            "after a throttle; lbc has its own rate limits)."
        ),
    )
    aws_calls_per_second: float = Field(
        default=20.0,
        gt=0,
        description=(
            "Client-side rate limit of mutating ELBv2 calls (per process and AWS account of "
            "the target group)."
        ),
    )
    aws_describe_calls_per_second: float = Field(
        default=50.0,
        gt=0,
        description=(
            "Client-side rate limit of ELBv2 and EC2 describe calls (per process and AWS account)."
        ),
    )
    workers: int = Field(default=4, ge=1, le=256, description="Bindings reconciled concurrently.")
    backoff_base: PositiveDuration = Field(
        default=0.005, description="First per-binding retry delay after a failure."
    )
    backoff_max: PositiveDuration = Field(
        default=300.0, description="Cap of the per-binding exponential retry delay."
    )
    requeue_period: PositiveDuration = Field(
        default=15.0,
        description="Delay before looking again while pod readiness gates wait for health.",
    )
    drift_verify_period: PositiveDuration = Field(
        default=300.0,
        description=(
            "How often every bound target group is checked for out-of-band changes "
            "(one DescribeTargetHealth per group, jittered)."
        ),
    )
    rollout_settle_window: Duration = Field(
        default=1.0,
        ge=0,
        description=(
            "A binding whose endpoints, Service or nodes changed twice within this long (a "
            "rollout in flight) is reconciled once they have been quiet this long, so the "
            "rollout's steps share one RegisterTargets and one DeregisterTargets; a lone change "
            "is served at once, unless at least as many bindings changed within this long as "
            "LBC_AWS_CALLS_PER_SECOND grants in it (then it waits this long once). 0 serves "
            "every change at once."
        ),
    )
    rollout_settle_limit: PositiveDuration = Field(
        default=10.0,
        description="The longest a rollout in flight holds its binding back in a row.",
    )
    fail_open: bool = Field(
        default=True,
        description=(
            "When no endpoint (ip) or node (instance) of a binding qualifies, use those on nodes "
            "whose Ready condition is Unknown, terminating pods included (LBC's "
            "`EndpointsFailOpen`): a network partition then keeps the targets registered."
        ),
    )
    max_targets_per_target_group: int = Field(
        default=0,
        ge=0,
        description=(
            "Register no more targets than keep a group within this many listed targets "
            "(draining and other clusters' included), as LBC's `--max-targets-per-target-group`; "
            "0 means no limit."
        ),
    )
    resync_period: Duration = Field(
        default=0.0,
        description="Informer resync period; 0 turns resync off (the drift check covers AWS).",
    )
    leader_elect: bool = Field(
        default=True, description="Run leader election on a coordination.k8s.io Lease."
    )
    lease_name: str = Field(default="lbc-leader", description="Name of the leader-election Lease.")
    lease_namespace: str | None = Field(
        default=None,
        description="Namespace of the Lease (default: `POD_NAMESPACE`, else `default`).",
    )
    lease_duration: PositiveDuration = Field(
        default=15.0, description="How long a Lease is valid without renewal."
    )
    renew_deadline: PositiveDuration = Field(
        default=10.0, description="How long the leader keeps trying to renew before it quits."
    )
    retry_period: PositiveDuration = Field(
        default=2.0, description="Interval between Lease acquire and renew attempts."
    )
    shutdown_grace_period: PositiveDuration = Field(
        default=20.0,
        description="Budget for in-flight reconciles to finish after SIGTERM.",
    )
    metrics_addr: str = Field(
        default="0.0.0.0:8080", description="host:port of the Prometheus `/metrics` endpoint."
    )
    probe_addr: str = Field(
        default="0.0.0.0:8081", description="host:port of `/healthz` and `/readyz`."
    )
    log_level: Literal["debug", "info", "warning", "error"] = Field(
        default="info", description="Lowest log level written."
    )
    log_format: Literal["json", "console"] = Field(
        default="json", description="`json` lines for machines, `console` for humans."
    )
    watch_namespace: str | None = Field(
        default=None,
        description="Watch only this namespace (default: all namespaces).",
    )
    cluster_name: str | None = Field(
        default=None,
        description=(
            "Name of this cluster: labels and events, and the security-group cluster tag "
            "`kubernetes.io/cluster/<name>`."
        ),
    )
    endpoint_security_group_tags: str = Field(
        default="",
        description=(
            "Extra tags (`key=value,key2=value2`) the endpoint security group must carry when "
            "an ENI has several groups (`spec.networking`)."
        ),
    )
    networking_cache_ttl: PositiveDuration = Field(
        default=300.0,
        description=(
            "Longest age of cached ENIs and security-group rules used by `spec.networking`; "
            "also bounds how long a rule removed out of band stays missing."
        ),
    )
    webhook_addr: str = Field(
        default="0.0.0.0:9443",
        description="host:port of the HTTPS admission webhook server (every replica serves it).",
    )
    webhook_cert_dir: str = Field(
        default="",
        description=(
            "Directory holding `tls.crt` and `tls.key` (the mounted webhook Secret); empty "
            "disables the webhook server."
        ),
    )
    readiness_gate_inject: bool = Field(
        default=True,
        description=(
            "The pod webhook adds the readiness gate of every ip binding whose Service selects "
            "a new pod (LBC's `--enable-pod-readiness-gate-inject`); false admits pods unchanged."
        ),
    )
    webhook_cert_reload_period: PositiveDuration = Field(
        default=10.0,
        description="How often the webhook certificate files are checked for a rotation.",
    )

    stacks: str = Field(
        default="",
        description=(
            "Load-balancer stacks lbc builds, a comma list of `ingress` (Ingress → ALB) and "
            "`service` (Service → NLB); empty: lbc only reconciles TargetGroupBindings."
        ),
    )
    vpc_id: str | None = Field(
        default=None,
        description=(
            "VPC of the cluster's load balancers, target groups and security groups; required "
            "when `LBC_STACKS` is set (LBC's `--aws-vpc-id`)."
        ),
    )
    ingress_class: str = Field(
        default="alb",
        description=(
            "Value of the `kubernetes.io/ingress.class` annotation that claims an Ingress "
            "(LBC's `--ingress-class`)."
        ),
    )
    load_balancer_class: str = Field(
        default="service.k8s.aws/nlb",
        description=(
            "`spec.loadBalancerClass` that claims a Service for an NLB stack (LBC's "
            "`--load-balancer-class`)."
        ),
    )
    default_scheme: Literal["internal", "internet-facing"] = Field(
        default="internal",
        description="Scheme of a load balancer whose stack names none.",
    )
    default_target_type: Literal["instance", "ip"] = Field(
        default="instance",
        description="Target type of a generated target group whose stack names none.",
    )
    default_tags: str = Field(
        default="",
        description=(
            "Tags (`key=value,…`) on every AWS resource of a stack; they win over the stacks' "
            "own tags, as LBC's `--default-tags`."
        ),
    )
    external_managed_tags: str = Field(
        default="",
        description=(
            "Tag keys (comma list) managed outside lbc: never added or removed on stack "
            "resources, and refused in a stack's tags."
        ),
    )

    @model_validator(mode="before")
    @classmethod
    def _lowercase_choices(cls, data: Any) -> Any:
        # Operators write LBC_LOG_LEVEL=INFO as often as info; accept both spellings.
        if isinstance(data, dict):
            for key in ("log_level", "log_format", "aws_retry_mode"):
                if isinstance(data.get(key), str):
                    data[key] = data[key].strip().lower()
        return data

    @model_validator(mode="after")
    def _check_relations(self) -> Settings:
        # client-go's leaderelection.NewLeaderElector refuses the same combinations.
        if self.leader_elect:
            if self.lease_duration <= self.renew_deadline:
                raise ValueError(
                    "LBC_LEASE_DURATION must be greater than LBC_RENEW_DEADLINE "
                    f"({self.lease_duration:g}s <= {self.renew_deadline:g}s)"
                )
            if self.renew_deadline <= 1.2 * self.retry_period:
                raise ValueError(
                    "LBC_RENEW_DEADLINE must be greater than 1.2 x LBC_RETRY_PERIOD "
                    f"({self.renew_deadline:g}s <= 1.2 x {self.retry_period:g}s)"
                )
        if self.backoff_base > self.backoff_max:
            raise ValueError("LBC_BACKOFF_BASE must not exceed LBC_BACKOFF_MAX")
        if self.rollout_settle_window > self.rollout_settle_limit:
            raise ValueError("LBC_ROLLOUT_SETTLE_WINDOW must not exceed LBC_ROLLOUT_SETTLE_LIMIT")
        for name in ("metrics_addr", "probe_addr", "webhook_addr"):
            _split_addr(getattr(self, name), env_name(name))
        return self

    @model_validator(mode="after")
    def _check_endpoint_tags(self) -> Settings:
        parse_tags(self.endpoint_security_group_tags)
        return self

    @model_validator(mode="after")
    def _check_stacks(self) -> Settings:
        kinds = self.stack_kinds
        unknown = sorted(kinds - STACK_KINDS)
        if unknown:
            raise ValueError(
                f"LBC_STACKS: unknown kind {unknown[0]!r} (use a comma list of ingress, service)"
            )
        if kinds and not (self.cluster_name or "").strip():
            raise ValueError(
                "LBC_CLUSTER_NAME is required when LBC_STACKS is set: it is in every stack "
                "tag and name, and must equal the reference controller's --cluster-name"
            )
        if kinds and not (self.vpc_id or "").strip():
            raise ValueError("LBC_VPC_ID is required when LBC_STACKS is set")
        tags = parse_tags(self.default_tags, "LBC_DEFAULT_TAGS")
        for key in tags:
            if key in TRACKING_TAG_KEYS:
                raise ValueError(f"LBC_DEFAULT_TAGS: {key!r} is a tracking tag key")
        return self

    @property
    def stack_kinds(self) -> frozenset[str]:
        """``LBC_STACKS`` as a set (empty: stack management off)."""
        return frozenset(filter(None, (k.strip().lower() for k in self.stacks.split(","))))

    @property
    def default_tag_map(self) -> dict[str, str]:
        """``LBC_DEFAULT_TAGS`` as a mapping."""
        return parse_tags(self.default_tags, "LBC_DEFAULT_TAGS")

    @property
    def external_managed_tag_keys(self) -> frozenset[str]:
        """``LBC_EXTERNAL_MANAGED_TAGS`` as a set of keys."""
        return frozenset(filter(None, (k.strip() for k in self.external_managed_tags.split(","))))

    @property
    def endpoint_group_tags(self) -> dict[str, str]:
        """``LBC_ENDPOINT_SECURITY_GROUP_TAGS`` as a mapping."""
        return parse_tags(self.endpoint_security_group_tags)


def parse_tags(text: str, var: str = "LBC_ENDPOINT_SECURITY_GROUP_TAGS") -> dict[str, str]:
    """``key=value,key2=value2`` as a mapping; raises ValueError on a token without ``=``."""
    tags: dict[str, str] = {}
    for token in filter(None, (t.strip() for t in text.split(","))):
        key, sep, value = token.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"{var}: {token!r} is not key=value")
        tags[key.strip()] = value.strip()
    return tags


def _split_addr(addr: str, var: str) -> tuple[str, int]:
    host, sep, port = addr.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"{var} must be host:port, got {addr!r}")
    return host or "0.0.0.0", int(port)


def split_addr(addr: str) -> tuple[str, int]:
    """``(host, port)`` of a validated ``host:port`` setting (empty host = all interfaces)."""
    return _split_addr(addr, "address")


def env_name(field: str) -> str:
    return ENV_PREFIX + field.upper()


def load_settings(**overrides: Any) -> Settings:
    """Read the environment; raise ``ConfigError`` with one line on the first bad value."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        raise ConfigError(_describe(exc)) from None


def _describe(exc: ValidationError) -> str:
    err = exc.errors()[0]
    loc = [str(part) for part in err.get("loc", ()) if part != "__root__"]
    msg = str(err.get("msg", "invalid value"))
    msg = msg.removeprefix("Value error, ")
    if not loc:
        return f"invalid configuration: {msg}"
    field = loc[0]
    var = "LBC_KUBECONFIG" if field == "kubeconfig" else env_name(field)
    value = err.get("input")
    shown = f" (got {value!r})" if isinstance(value, str | int | float) else ""
    return f"invalid configuration: {var}: {msg}{shown}"


def settings_table() -> str:
    """The README's configuration table, generated from the model (a test keeps them equal)."""
    rows = ["| variable | default | meaning |", "|---|---|---|"]
    for name, field in Settings.model_fields.items():
        var = env_name(name)
        default = field.default
        if default is None:
            shown = "unset"
        elif isinstance(default, bool):
            shown = "`true`" if default else "`false`"
        else:
            shown = f"`{default:g}`" if isinstance(default, float) else f"`{default}`"
        rows.append(f"| `{var}` | {shown} | {field.description or ''} |")
    return "\n".join(rows) + "\n"


README_BEGIN = "<!-- settings-table:begin (make readme) -->"
README_END = "<!-- settings-table:end -->"


def readme_with_table(readme: str) -> str:
    """``readme`` with the text between the table markers replaced by :func:`settings_table`."""
    head, sep, rest = readme.partition(README_BEGIN)
    _old, sep2, tail = rest.partition(README_END)
    if not sep or not sep2:
        raise ValueError("README has no settings-table markers")
    return f"{head}{README_BEGIN}\n{settings_table()}{README_END}{tail}"


if __name__ == "__main__":  # pragma: no cover - used by `make readme`
    import sys
    from pathlib import Path

    if sys.argv[1:2] == ["--readme"]:
        path = Path(sys.argv[2])
        path.write_text(readme_with_table(path.read_text()))
    else:
        print(settings_table(), end="")
