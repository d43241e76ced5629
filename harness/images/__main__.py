"""``python -m harness.images [--force] [--docker-host H] [NAME ...]``: build and report."""

from __future__ import annotations

import argparse
import sys

from harness.errors import DrillError
from harness.images.build import build_images, summary_table


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
    print(summary_table(infos))
    return 0


if __name__ == "__main__":
    sys.exit(main())
