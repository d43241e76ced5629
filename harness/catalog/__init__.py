"""Backup catalogue: where backups are, which belong together, and their posture."""
