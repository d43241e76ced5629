"""``python -m harness.images [--force] [--docker-host H] [NAME ...]``: build and report."""

from __future__ import annotations

import argparse
import sys

from harness.errors import DrillError
from harness.images.build import build_images


def main(argv: list[str] | None = None) -> int:
    """Build the named images (all by default) and print tag, outcome, time and size."""
    parser = argparse.ArgumentParser(prog="python -m harness.images", description=__doc__)
    parser.add_argument("names", nargs="*", help="images to build (default: all)")
    parser.add_argument("--force", action="store_true", help="rebuild even if present")
    parser.add_argument("--docker-host", default=None, help="engine address (DOCKER_HOST)")
    args = parser.parse_args(argv)
    try:
        infos = build_images(args.names or None, docker_host=args.docker_host, force=args.force)
    except DrillError as exc:
        print(exc.render(), file=sys.stderr)
        return 1
    print(f"{'image':<10} {'tag':<42} {'outcome':<7} {'seconds':>8} {'size MB':>8}")
    for info in infos.values():
        outcome = "built" if info.built else "cached"
        print(f"{info.name:<10} {info.tag:<42} {outcome:<7} {info.seconds:>8.1f} "
              f"{info.size_bytes / 1e6:>8.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
