"""Emulated Kubernetes API server, GCP Secret Manager and GitHub.

They let every part of kes run and be tested on one machine with the real client
libraries over real sockets. They follow the real services' semantics and fail
loudly on what they do not emulate. Nothing here imports the rest of kes.
"""
