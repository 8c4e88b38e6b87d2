"""Tenancy, pure: a Kiln Namespace parsed into a `Tenant` (`tenant`), its child manifests
(`manifests`: namespace, builder ServiceAccount, NetworkPolicy, quota, push Secret copy) and the
status a reconcile reports. `kiln.reconcile.tenant` applies them."""
