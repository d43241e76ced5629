"""Drill checks: probes over restored stores and the verdicts they produce."""
