"""Finding the cluster, once, the same way for every kes command.

Precedence: `--kubeconfig`, then `$KUBECONFIG`, then the pod's service account when
running in a cluster (and no `--context` was asked for), then `~/.kube/config`.
`--context` picks a kubeconfig context. The result serves both kopf's watches and
kes's own requests, so the two never disagree about where or who kes is.
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import kopf
from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes.config.incluster_config import InClusterConfigLoader

from kes.errors import KesError

SERVICE_ACCOUNT_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")


class ClusterConfigError(KesError):
    """No usable cluster configuration."""


@dataclass(frozen=True)
class Cluster:
    """Where the API server is and how to authenticate to it."""

    configuration: k8s.Configuration

    @property
    def server(self) -> str:
        host: str = self.configuration.host
        return host

    def authorization(self) -> tuple[str | None, str | None]:
        """(scheme, token), read again each time: in a pod the service account token file
        is rotated and an exec plugin's token expires, and the loader's hook re-reads
        them (no more than once a minute)."""
        config = self.configuration
        header = config.get_api_key_with_prefix("BearerToken") or config.get_api_key_with_prefix(
            "authorization"
        )
        scheme, _, token = (header or "").rpartition(" ")
        return scheme or ("Bearer" if token else None), token or None

    def ssl_context(self) -> ssl.SSLContext | None:
        """TLS towards the API server as the kubeconfig says; None for plain HTTP."""
        config = self.configuration
        if not config.host.startswith("https"):
            return None
        context = ssl.create_default_context(cafile=config.ssl_ca_cert)
        if not config.verify_ssl:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        if config.cert_file:
            context.load_cert_chain(config.cert_file, config.key_file)
        return context

    def connection(self) -> kopf.ConnectionInfo:
        """Credentials for kopf, read again on every (re-)login."""
        config = self.configuration
        scheme, token = self.authorization()
        return kopf.ConnectionInfo(
            server=config.host,
            ca_path=config.ssl_ca_cert,
            insecure=not config.verify_ssl,
            username=config.username or None,
            password=config.password or None,
            scheme=scheme,
            token=token,
            certificate_path=config.cert_file,
            private_key_path=config.key_file,
        )


def load_cluster(
    kubeconfig: str | None = None,
    context: str | None = None,
    env: Mapping[str, str] | None = None,
    service_account_dir: Path = SERVICE_ACCOUNT_DIR,
) -> Cluster:
    """The cluster by the precedence above; ClusterConfigError names what failed."""
    env = os.environ if env is None else env
    config = k8s.Configuration()
    path = kubeconfig or env.get("KUBECONFIG")
    try:
        if not path and env.get("KUBERNETES_SERVICE_HOST") and context is None:
            InClusterConfigLoader(
                token_filename=str(service_account_dir / "token"),
                cert_filename=str(service_account_dir / "ca.crt"),
                environ=env,
            ).load_and_set(config)
        else:
            k8s_config.load_kube_config(
                config_file=path or os.path.expanduser("~/.kube/config"),
                context=context,
                client_configuration=config,
                persist_config=False,
            )
    except (k8s_config.ConfigException, OSError) as e:
        raise ClusterConfigError(f"cannot find the cluster: {e}") from None
    return Cluster(config)
