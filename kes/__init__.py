"""kes: sync GCP Secret Manager values into Kubernetes Secrets, the GitOps way."""

__version__ = "0.1.0"
