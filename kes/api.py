"""The names kes shares with the cluster and its users: resource, labels, annotations.

Defined once here: manifests, RBAC rules, dashboards and other tools match on
these exact strings, so every part of kes reads them from this module.
"""

GROUP = "kubernetes-client.io"
VERSION = "v1"
API_VERSION = f"{GROUP}/{VERSION}"
KIND = "ExternalSecret"
PLURAL = "externalsecrets"

BACKEND_TYPE = "gcpSecretsManager"

MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
MANAGED_BY = "kes"
MANAGED_SELECTOR = f"{MANAGED_BY_LABEL}={MANAGED_BY}"
"""The label selector of the Secrets kes manages (watched and listed with it)."""

ANNOTATION_PREFIX = "externalsecrets.kubernetes-client.io/"
REQUESTED_AT_ANNOTATION = f"{ANNOTATION_PREFIX}requested-at"
"""On an ExternalSecret: any new value asks for an immediate sync."""
NAMING_PERMITTED_ANNOTATION = f"{ANNOTATION_PREFIX}permitted-key-name"
"""On a namespace (KES): a regex every secret id its ExternalSecrets name must match."""
PROJECTS_PERMITTED_ANNOTATION = f"{ANNOTATION_PREFIX}permitted-projects"
"""On a namespace: a regex every GCP project its ExternalSecrets name must match."""
DATA_HASH_ANNOTATION = f"{ANNOTATION_PREFIX}data-hash"
MANAGED_LABELS_ANNOTATION = f"{ANNOTATION_PREFIX}managed-labels"
MANAGED_ANNOTATIONS_ANNOTATION = f"{ANNOTATION_PREFIX}managed-annotations"
"""On a managed Secret: comma-separated keys kes set from the template, so that a key
the template drops is removed while labels and annotations others add stay."""
BOOKKEEPING_ANNOTATIONS = frozenset(
    {DATA_HASH_ANNOTATION, MANAGED_LABELS_ANNOTATION, MANAGED_ANNOTATIONS_ANNOTATION}
)
"""kes's own state on a Secret: never set by a template."""
