"""``scrydon-drill verify-evidence``: check a report folder and say what changed."""

from __future__ import annotations

import sys
from pathlib import Path

from harness.errors import ConfigError
from harness.evidence.manifest import load_public_key, verify_folder


def run_verify(folder: str, *, public_key: str | None = None,
               require_signature: bool = False) -> int:
    """Verify ``folder``; print the outcome; return 0 when unchanged, 1 otherwise."""
    key = None
    if public_key:
        try:
            key = load_public_key(Path(public_key).read_bytes())
        except OSError as exc:
            raise ConfigError(f"cannot read the public key {public_key}: {exc}",
                              path=public_key) from exc
    if not Path(folder).is_dir():
        print(f"FAILED: {folder} is not a folder; give a report folder such as "
              "reports/<run-id>", file=sys.stderr)
        return 1
    result = verify_folder(folder, public_key=key, require_signature=require_signature)
    print(result.report())
    return 0 if result.ok else 1
