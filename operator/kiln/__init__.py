"""Kiln: a Kubernetes operator that builds container images from Git repositories."""

__version__ = "0.1.0"
