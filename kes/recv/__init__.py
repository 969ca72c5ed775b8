"""`kes recv`: a webhook receiver safe to expose to the internet.

Each delivery is checked by its endpoint's source and, when it is genuine and
means that some ExternalSecrets may be stale, turned into one narrow action:
the `requested-at` annotation on those ExternalSecrets, which makes the controller
sync them at once. The controller's own API is never exposed.

Reading order: `config` (recv.yaml) and `scope` (which ExternalSecrets an endpoint
refreshes), `source` (the one interface), `sources/` (one module per source) and
`registry` (the list of them), `index` (which ExternalSecrets use which secret),
`action` (the coalesced annotation), `server` (routes, limits, metrics), `main`.
"""
