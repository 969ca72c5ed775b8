"""The controller's configuration, read from KES's environment variables.

KES treated its boolean flags as present-or-absent (`DISABLE_POLLING=false` turned
polling off); here every boolean is parsed, and anything unclear stops the start: so
do a placeholder project, found otherwise only when Secret Manager answers NOT_FOUND,
and intervals short enough to hammer Secret Manager.
"""

from __future__ import annotations

import socket
from collections.abc import Mapping
from dataclasses import dataclass, field

from kes.api import NAMING_PERMITTED_ANNOTATION
from kes.config import (
    ConfigError,
    listen_address,
    non_empty,
    parse_bool,
    port,
    positive_int,
    positive_number,
    read_env,
)
from kes.spec import is_project_id

_LOG_LEVELS = ("debug", "info", "warning", "warn", "error", "critical")

MIN_INTERVAL_MS = 1000.0
"""No interval setting goes below a second: at 1 ms a single ExternalSecret would use
its project's whole Secret Manager access quota."""

# Placeholders that manifests and docs put where a project belongs (YOUR_PROJECT too).
_PLACEHOLDER_PROJECTS = frozenset({"your-project", "your-project-id", "my-project", "project-id"})


@dataclass(frozen=True)
class ControllerSettings:
    poll_interval: float = 10.0
    """Seconds between refreshes of an ExternalSecret without spec.refreshInterval."""
    watched_namespaces: tuple[str, ...] = ()
    """Empty: every namespace."""
    instance_id: str = ""
    log_level: str = "info"
    metrics_host: str = "0.0.0.0"
    """Where /metrics, /healthz and /readyz listen, with `metrics_port`."""
    metrics_port: int = 3001
    disable_polling: bool = False
    enforce_namespace_annotations: bool = False
    naming_permitted_annotation: str = NAMING_PERMITTED_ANNOTATION
    default_project: str | None = None
    max_concurrent_fetches: int = 16
    access_rate_per_project: float = 1000.0
    """GSM accesses per second per project; the quota is 90,000 a minute (1,500/s)."""
    min_refresh_interval: float = 5.0
    """Floor for spec.refreshInterval (0, sync once, stays allowed): at `1ms` one
    ExternalSecret would use its project's whole GSM access budget."""
    foreign_recheck: float = 300.0
    """Seconds between GETs of a Secret kes found in its way and not owned by it."""
    status_refresh: float = 3600.0
    """Seconds between refreshes of an unchanged status's lastSync."""
    status_refresh_rate: float = 50.0
    """At most this many lastSync refreshes per second; more objects stretch the period."""
    render_workers: int = 2
    """Worker processes that render; one slow render holds up only its own worker."""
    render_cpu_seconds: int = 2
    """CPU one render may use before it is stopped (whole seconds)."""
    render_timeout: float = 10.0
    """Seconds one render may take before it is stopped."""
    render_memory_mib: int = 256
    """Address space of one render worker, in MiB."""
    max_backoff: float = 300.0
    """Longest wait before retrying a GSM version that failed."""
    leader_election: bool = False
    """Take the Lease `lease_name` in `lease_namespace` before syncing."""
    lease_name: str = "kes-controller"
    lease_namespace: str = "default"
    identity: str = field(default_factory=socket.gethostname)
    """This replica's name in the Lease (the pod name)."""
    lease_duration: float = 15.0
    """Seconds a standby waits, after it last saw the Lease change, before taking it."""
    renew_deadline: float = 10.0
    """Seconds a leader may go without renewing before it stops (< lease_duration)."""
    retry_period: float = 2.0


def _namespaces(value: str) -> tuple[str, ...]:
    return tuple(dict.fromkeys(n.strip() for n in value.split(",") if n.strip()))


def _log_level(name: str, value: str) -> str:
    lowered = value.strip().lower()
    if lowered not in _LOG_LEVELS:
        raise ConfigError(f"{name}={value!r} is not one of {', '.join(_LOG_LEVELS)}")
    return "warning" if lowered == "warn" else lowered


def _metrics_address(env: Mapping[str, str], default_port: int) -> tuple[str, int]:
    """METRICS_ADDRESS (`host:port`, `:port`), else KES's METRICS_PORT on every interface."""
    address = env.get("METRICS_ADDRESS", "")
    if not address.strip():
        return "0.0.0.0", read_env(env, "METRICS_PORT", port, default_port)
    if env.get("METRICS_PORT", "").strip():
        raise ConfigError("METRICS_ADDRESS and METRICS_PORT are both set: set only one")
    return listen_address("METRICS_ADDRESS", address)


def _interval_ms(name: str, text: str) -> float:
    milliseconds = positive_number(name, text)
    if milliseconds < MIN_INTERVAL_MS:
        raise ConfigError(f"{name}={text!r} is below {MIN_INTERVAL_MS:g}: every poll costs "
                          "Secret Manager accesses, so intervals start at one second")
    return milliseconds


def project_from(env: Mapping[str, str], explicit: str | None = None) -> str | None:
    """The project for specs without projectId: --project, else $GOOGLE_CLOUD_PROJECT.

    A placeholder or a malformed id is refused here, at the start, rather than found
    when Secret Manager answers NOT_FOUND for every ExternalSecret."""
    name = "--project" if explicit else "GOOGLE_CLOUD_PROJECT"
    project = (explicit or env.get("GOOGLE_CLOUD_PROJECT", "")).strip()
    if not project:
        return None
    if project.lower().replace("_", "-") in _PLACEHOLDER_PROJECTS:
        raise ConfigError(f"{name}={project!r} is a placeholder: set the GCP project of "
                          "ExternalSecrets without projectId, or leave it unset")
    if not is_project_id(project):
        raise ConfigError(f"{name}={project!r} is not a GCP project id (6 to 30 lowercase "
                          "letters, digits and hyphens) or project number")
    return project


def settings_from_env(
    env: Mapping[str, str], default_project: str | None = None
) -> ControllerSettings:
    """Read the KES environment; `default_project` (from --project) wins over the env."""
    d = ControllerSettings()
    metrics_host, metrics_port = _metrics_address(env, d.metrics_port)
    interval_ms = read_env(
        env, "POLLER_INTERVAL_MILLISECONDS", _interval_ms, d.poll_interval * 1000
    )
    return ControllerSettings(
        poll_interval=interval_ms / 1000,
        watched_namespaces=_namespaces(env.get("WATCHED_NAMESPACES", "")),
        instance_id=env.get("INSTANCE_ID", "").strip(),
        log_level=read_env(env, "LOG_LEVEL", _log_level, d.log_level),
        metrics_host=metrics_host,
        metrics_port=metrics_port,
        disable_polling=read_env(env, "DISABLE_POLLING", parse_bool, d.disable_polling),
        enforce_namespace_annotations=read_env(
            env, "ENFORCE_NAMESPACE_ANNOTATIONS", parse_bool, d.enforce_namespace_annotations
        ),
        naming_permitted_annotation=read_env(
            env, "NAMING_PERMITTED_ANNOTATION", non_empty, d.naming_permitted_annotation
        ),
        default_project=project_from(env, default_project),
        max_concurrent_fetches=read_env(
            env, "GSM_MAX_CONCURRENT_FETCHES", positive_int, d.max_concurrent_fetches
        ),
        access_rate_per_project=read_env(
            env, "GSM_ACCESS_RATE_PER_PROJECT", positive_number, d.access_rate_per_project
        ),
        min_refresh_interval=read_env(
            env,
            "MIN_REFRESH_INTERVAL_MILLISECONDS",
            _interval_ms,
            d.min_refresh_interval * 1000,
        )
        / 1000,
        foreign_recheck=read_env(
            env, "FOREIGN_SECRET_RECHECK_SECONDS", positive_number, d.foreign_recheck
        ),
        status_refresh=read_env(env, "STATUS_REFRESH_SECONDS", positive_number, d.status_refresh),
        render_workers=read_env(env, "RENDER_WORKERS", positive_int, d.render_workers),
        render_cpu_seconds=read_env(
            env, "RENDER_CPU_SECONDS", positive_int, d.render_cpu_seconds
        ),
        render_timeout=read_env(env, "RENDER_TIMEOUT_SECONDS", positive_number, d.render_timeout),
        render_memory_mib=read_env(env, "RENDER_MEMORY_MIB", positive_int, d.render_memory_mib),
        status_refresh_rate=read_env(
            env, "STATUS_REFRESH_RATE", positive_number, d.status_refresh_rate
        ),
        leader_election=read_env(env, "LEADER_ELECTION", parse_bool, d.leader_election),
        lease_name=read_env(env, "LEADER_ELECTION_LEASE", non_empty, d.lease_name),
        lease_namespace=read_env(env, "POD_NAMESPACE", non_empty, d.lease_namespace),
        identity=read_env(env, "POD_NAME", non_empty, socket.gethostname()),
    )
