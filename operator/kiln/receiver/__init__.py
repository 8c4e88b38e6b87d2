"""The webhook receiver's I/O: the aiohttp server (`app`), the watch-fed cache of the cluster
(`cache`, `watch`) and the receiver's metrics. Every decision is `kiln.webhooks`'; this package only
moves bytes and objects to and from it."""
