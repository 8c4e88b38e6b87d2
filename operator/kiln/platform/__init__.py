"""Platform adapters: the Kubernetes client (`kube`), the operator's settings from the environment
(`settings`) and the admission webhook's certificates (`certs`). Used by the I/O parts only: a pure
core takes plain values or its own small records instead."""
