"""`kes controller`: syncs ExternalSecrets from GCP Secret Manager into owned Secrets."""
