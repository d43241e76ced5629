"""Scratch environments: empty stores to restore into, created and removed by the harness.

Providers are looked up lazily by name (see :func:`harness.scratch.registry.get_provider`)
so that optional stacks (containers, Kubernetes) are only imported when asked for.
"""
