"""`kes hmac`: GitHub webhook tokens from Prow's managed_webhooks, kept in Secret Manager."""
