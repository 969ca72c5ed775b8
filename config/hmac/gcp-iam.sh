#!/usr/bin/env bash
# GCP set-up for `kes hmac`: one secret, and the least the job needs on it.
set -euo pipefail
PROJECT=example-prow
SECRET=prow-hmac-tokens
JOB_SA=kes-hmac@${PROJECT}.iam.gserviceaccount.com          # runs kes hmac
CONTROLLER_SA=kes-controller@${PROJECT}.iam.gserviceaccount.com  # syncs it into the cluster

# Create the secret up front: the job creates it when missing, but that needs
# secretmanager.secrets.create on the project (roles/secretmanager.admin), which
# the job should not hold.
gcloud secrets create "${SECRET}" --project="${PROJECT}" --replication-policy=automatic

# list, add and destroy versions (secretVersionManager includes everything
# secretVersionAdder grants, so that role is not needed as well) ...
gcloud secrets add-iam-policy-binding "${SECRET}" --project="${PROJECT}" \
  --member="serviceAccount:${JOB_SA}" --role=roles/secretmanager.secretVersionManager
# ... and read the current token map: only secretAccessor (or admin) grants
# secretmanager.versions.access.
gcloud secrets add-iam-policy-binding "${SECRET}" --project="${PROJECT}" \
  --member="serviceAccount:${JOB_SA}" --role=roles/secretmanager.secretAccessor

# The controller only reads.
gcloud secrets add-iam-policy-binding "${SECRET}" --project="${PROJECT}" \
  --member="serviceAccount:${CONTROLLER_SA}" --role=roles/secretmanager.secretAccessor

# Workload Identity: the job's Kubernetes service account acts as JOB_SA.
gcloud iam service-accounts add-iam-policy-binding "${JOB_SA}" --project="${PROJECT}" \
  --role=roles/iam.workloadIdentityUser \
  --member="serviceAccount:${PROJECT}.svc.id.goog[test-pods/kes-hmac]"
