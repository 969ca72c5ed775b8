"""Environment parsing: KES's variables, with booleans that mean what they say."""

from __future__ import annotations

import pytest

from kes.config import ConfigError, parse_bool
from kes.controller.settings import ControllerSettings, settings_from_env


def test_defaults_match_kes() -> None:
    settings = settings_from_env({})
    assert settings == ControllerSettings()
    assert settings.poll_interval == 10.0
    assert settings.metrics_port == 3001
    assert settings.watched_namespaces == ()
    assert settings.disable_polling is False
    assert settings.enforce_namespace_annotations is False


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("true", True),
        ("TRUE", True),
        ("1", True),
        ("yes", True),
        ("false", False),
        ("0", False),
        ("no", False),
        (" No ", False),
    ],
)
def test_booleans_are_parsed(text: str, value: bool) -> None:
    assert parse_bool("DISABLE_POLLING", text) is value


def test_false_means_false_unlike_kes() -> None:
    settings = settings_from_env(
        {"DISABLE_POLLING": "false", "ENFORCE_NAMESPACE_ANNOTATIONS": "false"}
    )
    assert settings.disable_polling is False
    assert settings.enforce_namespace_annotations is False


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("DISABLE_POLLING", "maybe", "DISABLE_POLLING='maybe' is not a boolean"),
        ("ENFORCE_NAMESPACE_ANNOTATIONS", "enabled", "is not a boolean"),
        ("POLLER_INTERVAL_MILLISECONDS", "ten", "is not a number"),
        ("POLLER_INTERVAL_MILLISECONDS", "0", "must be a finite number greater than zero"),
        ("POLLER_INTERVAL_MILLISECONDS", "nan", "must be a finite number greater than zero"),
        ("POLLER_INTERVAL_MILLISECONDS", "inf", "must be a finite number greater than zero"),
        ("METRICS_PORT", "70000", "is not a TCP port"),
        ("LOG_LEVEL", "chatty", "is not one of"),
        ("GSM_MAX_CONCURRENT_FETCHES", "2.5", "whole number"),
    ],
)
def test_bad_values_stop_the_start(name: str, value: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        settings_from_env({name: value})


def test_every_variable_is_read() -> None:
    settings = settings_from_env(
        {
            "POLLER_INTERVAL_MILLISECONDS": "2500",
            "WATCHED_NAMESPACES": " team-a, team-b,,team-a ",
            "INSTANCE_ID": "blue",
            "LOG_LEVEL": "WARN",
            "METRICS_PORT": "9100",
            "DISABLE_POLLING": "yes",
            "ENFORCE_NAMESPACE_ANNOTATIONS": "1",
            "NAMING_PERMITTED_ANNOTATION": "example.com/keys",
            "GOOGLE_CLOUD_PROJECT": "env-project",
            "GSM_MAX_CONCURRENT_FETCHES": "4",
            "GSM_ACCESS_RATE_PER_PROJECT": "50",
            "STATUS_REFRESH_SECONDS": "60",
            "MIN_REFRESH_INTERVAL_MILLISECONDS": "2500",
            "FOREIGN_SECRET_RECHECK_SECONDS": "600",
            "LEADER_ELECTION": "true",
            "LEADER_ELECTION_LEASE": "kes-blue",
            "POD_NAMESPACE": "kes-system",
            "POD_NAME": "kes-controller-abc",
        }
    )
    assert settings == ControllerSettings(
        poll_interval=2.5,
        watched_namespaces=("team-a", "team-b"),
        instance_id="blue",
        log_level="warning",
        metrics_port=9100,
        disable_polling=True,
        enforce_namespace_annotations=True,
        naming_permitted_annotation="example.com/keys",
        default_project="env-project",
        max_concurrent_fetches=4,
        access_rate_per_project=50.0,
        status_refresh=60.0,
        min_refresh_interval=2.5,
        foreign_recheck=600.0,
        leader_election=True,
        lease_name="kes-blue",
        lease_namespace="kes-system",
        identity="kes-controller-abc",
    )


@pytest.mark.parametrize(
    ("env", "host", "port"),
    [
        ({}, "0.0.0.0", 3001),
        ({"METRICS_PORT": "9100"}, "0.0.0.0", 9100),
        ({"METRICS_ADDRESS": "127.0.0.1:9100"}, "127.0.0.1", 9100),
        ({"METRICS_ADDRESS": ":9100"}, "0.0.0.0", 9100),
        ({"METRICS_ADDRESS": "[::1]:0"}, "::1", 0),
        ({"METRICS_ADDRESS": " ", "METRICS_PORT": "9100"}, "0.0.0.0", 9100),
    ],
)
def test_the_metrics_listen_address_is_a_setting(env: dict[str, str], host: str,
                                                 port: int) -> None:
    settings = settings_from_env(env)
    assert (settings.metrics_host, settings.metrics_port) == (host, port)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"METRICS_ADDRESS": "9100"}, "METRICS_ADDRESS='9100' is not an address"),
        ({"METRICS_ADDRESS": "127.0.0.1:http"}, "METRICS_ADDRESS='http' is not a TCP port"),
        ({"METRICS_ADDRESS": ":9100", "METRICS_PORT": "9100"},
         "METRICS_ADDRESS and METRICS_PORT are both set"),
    ],
)
def test_a_bad_metrics_address_stops_the_start(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        settings_from_env(env)


def test_project_flag_wins_over_env() -> None:
    settings = settings_from_env({"GOOGLE_CLOUD_PROJECT": "env-project"},
                                 default_project="flag-project")
    assert settings.default_project == "flag-project"


@pytest.mark.parametrize(
    ("env", "flag", "message"),
    [
        ({"GOOGLE_CLOUD_PROJECT": "YOUR_PROJECT"}, None,
         "GOOGLE_CLOUD_PROJECT='YOUR_PROJECT' is a placeholder"),
        ({"GOOGLE_CLOUD_PROJECT": "your-project"}, None, "is a placeholder"),
        ({}, "my-project", "--project='my-project' is a placeholder"),
        ({"GOOGLE_CLOUD_PROJECT": "Team Project"}, None,
         "GOOGLE_CLOUD_PROJECT='Team Project' is not a GCP project id"),
        ({"GOOGLE_CLOUD_PROJECT": "proj"}, None, "is not a GCP project id"),
        ({"GOOGLE_CLOUD_PROJECT": "projects/p-123456"}, None, "is not a GCP project id"),
    ],
)
def test_a_placeholder_or_malformed_default_project_stops_the_start(
    env: dict[str, str], flag: str | None, message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        settings_from_env(env, default_project=flag)


@pytest.mark.parametrize("project", ["env-project", "example.com:team-proj", "123456789012"])
def test_project_ids_and_numbers_are_taken(project: str) -> None:
    assert settings_from_env({"GOOGLE_CLOUD_PROJECT": f" {project} "}).default_project == project


@pytest.mark.parametrize("name", ["POLLER_INTERVAL_MILLISECONDS",
                                  "MIN_REFRESH_INTERVAL_MILLISECONDS"])
@pytest.mark.parametrize("value", ["999", "1", "0.5"])
def test_intervals_below_a_second_stop_the_start(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=f"{name}='{value}' is below 1000"):
        settings_from_env({name: value})


def test_an_interval_of_a_second_is_taken() -> None:
    settings = settings_from_env({"POLLER_INTERVAL_MILLISECONDS": "1000",
                                  "MIN_REFRESH_INTERVAL_MILLISECONDS": "1000"})
    assert (settings.poll_interval, settings.min_refresh_interval) == (1.0, 1.0)
