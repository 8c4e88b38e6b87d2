"""Exposing the Prometheus metrics of a Kiln process (the default registry: every part's metrics)."""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest, start_http_server


def exposition() -> tuple[bytes, str]:
    """The text exposition of every metric, and its content type."""
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


def serve(port: int, addr: str = "0.0.0.0") -> None:
    """Serve /metrics on a port of its own, from a daemon thread."""
    start_http_server(port, addr=addr)
