"""The operator's I/O work below the kopf handlers: read the cluster, call a pure core for the
desired state, write it back (`tenant`: a Kiln Namespace's children and status; `buildrun`: a
build's Job, status, log archive and cancel; `admission`: the webhook CA and the configuration's
CA bundle; `metrics`: the builds' Prometheus metrics)."""
