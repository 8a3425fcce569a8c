"""pytest fixtures for the lab Kubernetes API server (filled in with the emulator)."""
