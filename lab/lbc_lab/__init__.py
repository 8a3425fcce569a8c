"""The lab: emulated Kubernetes API server and ELBv2/EC2 for tests, the demo and benchmarks.

Never imported by the daemon's own code paths (an import contract checks it).
"""
