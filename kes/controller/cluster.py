"""Find the cluster as kubectl does, once, for both kopf (watches) and the client (writes).

Order: `--kubeconfig`, then `$KUBECONFIG`, then the pod's service account when
running in a cluster, then `~/.kube/config`; `--context` picks a kubeconfig context.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

import kopf
from kubernetes import client as k8s
from kubernetes import config as k8s_config

from kes.errors import KesError


class ClusterConfigError(KesError):
    """No usable cluster configuration."""


@dataclass(frozen=True)
class Cluster:
    api_client: k8s.ApiClient

    def connection(self) -> kopf.ConnectionInfo:
        """Credentials for kopf, read again on every (re-)login: in a pod the service
        account token file is rotated, and the client's hook re-reads it."""
        config = self.api_client.configuration
        if config.refresh_api_key_hook is not None:
            config.refresh_api_key_hook(config)
        return _connection(config)


def _connection(config: k8s.Configuration) -> kopf.ConnectionInfo:
    header = config.get_api_key_with_prefix("BearerToken") or config.get_api_key_with_prefix(
        "authorization"
    )
    scheme, _, token = (header or "").rpartition(" ")
    return kopf.ConnectionInfo(
        server=config.host,
        ca_path=config.ssl_ca_cert,
        insecure=not config.verify_ssl,
        username=config.username or None,
        password=config.password or None,
        scheme=scheme or ("Bearer" if token else None),
        token=token or None,
        certificate_path=config.cert_file,
        private_key_path=config.key_file,
    )


def load_cluster(
    kubeconfig: str | None = None, context: str | None = None, env: Mapping[str, str] | None = None
) -> Cluster:
    env = os.environ if env is None else env
    config = k8s.Configuration()
    path = kubeconfig or env.get("KUBECONFIG")
    try:
        if not path and env.get("KUBERNETES_SERVICE_HOST") and context is None:
            k8s_config.load_incluster_config(client_configuration=config)
        else:
            k8s_config.load_kube_config(
                config_file=path or os.path.expanduser("~/.kube/config"),
                context=context,
                client_configuration=config,
                persist_config=False,
            )
    except (k8s_config.ConfigException, OSError) as e:
        raise ClusterConfigError(f"cannot find the cluster: {e}") from None
    return Cluster(k8s.ApiClient(config))
