"""Controller machinery (work queue, workers, triggers) and the binding reconciler."""
