"""Kubernetes adapters: the only code that speaks the Kubernetes API."""
