"""The one Kubernetes layer: where the cluster is, the requests kes makes, the watches.

Nothing else in kes talks to the Kubernetes client or to kopf directly.
"""

from kes.kube.client import Kube, KubeError, RequestCounter
from kes.kube.config import Cluster, ClusterConfigError, load_cluster
from kes.kube.resources import (
    EVENTS,
    EXTERNALSECRETS,
    LEASES,
    NAMESPACES,
    SECRETS,
    Key,
    Resource,
)

__all__ = [
    "EVENTS",
    "EXTERNALSECRETS",
    "LEASES",
    "NAMESPACES",
    "SECRETS",
    "Cluster",
    "ClusterConfigError",
    "Kube",
    "Key",
    "KubeError",
    "RequestCounter",
    "Resource",
    "load_cluster",
]
