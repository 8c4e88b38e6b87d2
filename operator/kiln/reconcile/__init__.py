"""The operator's I/O work below the kopf handlers: read the cluster, call a pure core for the
desired state, write it back (`tenant`: a Kiln Namespace's children and status; `webhook_tls`: the
admission webhook's CA and certificate)."""
