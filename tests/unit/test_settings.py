"""The LBC_* environment contract."""

from __future__ import annotations

from pathlib import Path

import pytest
from lbc.settings import (
    ConfigError,
    Settings,
    load_settings,
    parse_duration,
    readme_with_table,
    settings_table,
)

CONTRACT = [
    "LBC_KUBECONFIG", "LBC_KUBE_CONTEXT", "LBC_AWS_REGION", "LBC_AWS_ENDPOINT_URL", "LBC_WORKERS",
    "LBC_BACKOFF_BASE", "LBC_BACKOFF_MAX", "LBC_REQUEUE_PERIOD", "LBC_DRIFT_VERIFY_PERIOD",
    "LBC_LEADER_ELECT", "LBC_LEASE_NAME", "LBC_LEASE_NAMESPACE", "LBC_LEASE_DURATION",
    "LBC_RENEW_DEADLINE", "LBC_RETRY_PERIOD", "LBC_METRICS_ADDR", "LBC_PROBE_ADDR",
    "LBC_LOG_LEVEL", "LBC_LOG_FORMAT", "LBC_WATCH_NAMESPACE", "LBC_CLUSTER_NAME",
]  # fmt: skip


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for key in list(os.environ):
        if key.startswith("LBC_") or key in ("KUBECONFIG", "POD_NAMESPACE"):
            monkeypatch.delenv(key)


def test_contract_variables_are_all_read(monkeypatch: pytest.MonkeyPatch) -> None:
    table = settings_table()
    for var in CONTRACT:
        assert f"`{var}`" in table


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("15", 15.0), ("0.5", 0.5), ("15s", 15.0), ("2m", 120.0), ("1h30m", 5400.0),
     ("250ms", 0.25), ("1m0.5s", 60.5), (3, 3.0)],
)  # fmt: skip
def test_durations_accept_seconds_and_go_strings(text: str | int, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "abc", "15x", "s", "-1", "5m-3s", "1.5.2s"])
def test_malformed_durations_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)


def test_environment_is_read_with_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LBC_WORKERS", "8")
    monkeypatch.setenv("LBC_DRIFT_VERIFY_PERIOD", "2m")
    monkeypatch.setenv("LBC_LEADER_ELECT", "false")
    monkeypatch.setenv("LBC_LOG_LEVEL", "DEBUG")
    s = load_settings()
    assert (s.workers, s.drift_verify_period, s.leader_elect, s.log_level) == (
        8,
        120.0,
        False,
        "debug",
    )


def test_kubeconfig_falls_back_to_kubeconfig_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KUBECONFIG", "/from/kubeconfig")
    assert load_settings().kubeconfig == "/from/kubeconfig"
    monkeypatch.setenv("LBC_KUBECONFIG", "/from/lbc")
    assert load_settings().kubeconfig == "/from/lbc"


def test_settings_are_frozen() -> None:
    s = load_settings()
    with pytest.raises(ValueError, match="frozen"):
        s.workers = 2  # type: ignore[misc]


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"LBC_WORKERS": "abc"}, "LBC_WORKERS"),
        ({"LBC_WORKERS": "0"}, "LBC_WORKERS"),
        ({"LBC_BACKOFF_MAX": "soon"}, "LBC_BACKOFF_MAX"),
        ({"LBC_LOG_FORMAT": "xml"}, "LBC_LOG_FORMAT"),
        ({"LBC_LEADER_ELECT": "maybe"}, "LBC_LEADER_ELECT"),
        ({"LBC_METRICS_ADDR": "8080"}, "LBC_METRICS_ADDR"),
        ({"LBC_LEASE_DURATION": "5s", "LBC_RENEW_DEADLINE": "10s"}, "LBC_LEASE_DURATION"),
        ({"LBC_RENEW_DEADLINE": "2s", "LBC_RETRY_PERIOD": "2s"}, "LBC_RENEW_DEADLINE"),
        ({"LBC_ROLLOUT_SETTLE_WINDOW": "20s"}, "LBC_ROLLOUT_SETTLE_WINDOW"),
        ({"LBC_ROLLOUT_SETTLE_WINDOW": "-1"}, "LBC_ROLLOUT_SETTLE_WINDOW"),
        # The stack controllers' settings.
        ({"LBC_STACKS": "ingress", "LBC_VPC_ID": "vpc-1"}, "LBC_CLUSTER_NAME"),
        ({"LBC_STACKS": "ingress", "LBC_CLUSTER_NAME": " ", "LBC_VPC_ID": "v"}, "LBC_CLUSTER_NAME"),
        ({"LBC_STACKS": "ingress", "LBC_CLUSTER_NAME": "c1"}, "LBC_VPC_ID"),
        ({"LBC_STACKS": "gateway", "LBC_CLUSTER_NAME": "c1", "LBC_VPC_ID": "v"}, "LBC_STACKS"),
        (
            {
                "LBC_STACKS": "ingress",
                "LBC_CLUSTER_NAME": "c1",
                "LBC_VPC_ID": "v",
                "LBC_DEFAULT_TAGS": "elbv2.k8s.aws/cluster=x",
            },
            "LBC_DEFAULT_TAGS",
        ),
        ({"LBC_DEFAULT_TAGS": "novalue"}, "LBC_DEFAULT_TAGS"),
    ],
)
def test_bad_values_give_one_line_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], named: str
) -> None:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(ConfigError) as info:
        load_settings()
    message = str(info.value)
    assert named in message
    assert "\n" not in message


def test_lease_timings_unchecked_without_leader_election(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LBC_LEADER_ELECT", "false")
    monkeypatch.setenv("LBC_LEASE_DURATION", "1s")
    assert load_settings().lease_duration == 1.0


def test_readme_configuration_table_matches_the_model() -> None:
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    assert readme_with_table(readme) == readme, "run `make readme` after changing lbc/settings.py"


def test_every_field_has_a_description() -> None:
    missing = [n for n, f in Settings.model_fields.items() if not f.description]
    assert missing == []


def test_stacks_are_off_by_default() -> None:
    settings = load_settings()
    assert settings.stack_kinds == frozenset()
    assert settings.ingress_class == "alb"
    assert settings.default_scheme == "internal"
    assert settings.default_target_type == "instance"


def test_stacks_parse_as_a_comma_list(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LBC_STACKS", " Ingress, service ,")
    monkeypatch.setenv("LBC_CLUSTER_NAME", "c1")
    monkeypatch.setenv("LBC_VPC_ID", "vpc-1")
    assert load_settings().stack_kinds == {"ingress", "service"}


def test_default_and_external_tags_are_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LBC_DEFAULT_TAGS", "team=web, env=prod")
    monkeypatch.setenv("LBC_EXTERNAL_MANAGED_TAGS", "cost-center, owner")
    settings = load_settings()
    assert settings.default_tag_map == {"team": "web", "env": "prod"}
    assert settings.external_managed_tag_keys == {"cost-center", "owner"}
