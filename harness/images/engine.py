"""Finding and connecting to a Docker engine through the Docker SDK for Python.

Which engine: the ``docker_host`` argument, else ``$DOCKER_HOST``, else the project's private
engine socket (``/run/scrydon-drill/docker.sock``) when it exists, else the SDK's default
(``/var/run/docker.sock``). The API version is negotiated with the server, so Debian's
docker.io 20.10 (API 1.41) works with a current SDK.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from harness.images.errors import DockerSdkMissing, EngineUnavailable

if TYPE_CHECKING:
    import docker

PROJECT_SOCKET = Path("/run/scrydon-drill/docker.sock")
DEFAULT_SOCKET = Path("/var/run/docker.sock")
# Long reads: a RUN step such as apt-get install prints nothing for a while.
BUILD_TIMEOUT = 1800
PROBE_TIMEOUT = 10

START_ENGINE = (
    "start a Docker engine and point DOCKER_HOST at it, e.g. as root: "
    "apt-get install -y docker.io; mkdir -p /var/cache/scrydon-drill/docker/data "
    "/var/cache/scrydon-drill/docker/exec /run/scrydon-drill; "
    "dockerd --data-root /var/cache/scrydon-drill/docker/data "
    "--exec-root /var/cache/scrydon-drill/docker/exec "
    f"-H unix://{PROJECT_SOCKET} --pidfile /run/scrydon-drill/docker.pid &  "
    f"(scripts/dockerd.sh does this where present); export DOCKER_HOST=unix://{PROJECT_SOCKET}"
)


def candidate_hosts(docker_host: str | None = None) -> list[str]:
    """The engine addresses to try, in order (only one when the caller or env names one)."""
    if docker_host:
        return [docker_host]
    if os.environ.get("DOCKER_HOST"):
        return [os.environ["DOCKER_HOST"]]
    hosts = []
    if PROJECT_SOCKET.is_socket():
        hosts.append(f"unix://{PROJECT_SOCKET}")
    hosts.append(f"unix://{DEFAULT_SOCKET}")
    return hosts


def _sdk() -> object:
    try:
        import docker
    except ImportError as exc:
        raise DockerSdkMissing(
            "the Docker SDK for Python is not installed",
            remedy="pip install 'scrydon-drill[containers]' (or pip install 'docker>=7')",
        ) from exc
    return docker


@dataclass
class Engine:
    """A connected engine: the SDK client and the address it was reached at."""

    client: docker.DockerClient
    host: str

    def close(self) -> None:
        """Close the client's connections."""
        self.client.close()


def connect(docker_host: str | None = None, *, timeout: int = BUILD_TIMEOUT) -> Engine:
    """Return the first engine that answers a ping.

    Raises :class:`EngineUnavailable` naming every address tried and how to start an engine,
    :class:`DockerSdkMissing` when the SDK is not installed.
    """
    sdk = _sdk()
    failures: list[str] = []
    for host in candidate_hosts(docker_host):
        env = dict(os.environ, DOCKER_HOST=host)
        try:
            # A short probe first, so that a hung engine fails fast; builds get the long timeout.
            probe = sdk.from_env(version="auto", timeout=PROBE_TIMEOUT,  # type: ignore[attr-defined]
                                 environment=env)
            probe.ping()
            probe.close()
            client = sdk.from_env(version="auto", timeout=timeout,  # type: ignore[attr-defined]
                                  environment=env)
            return Engine(client=client, host=host)
        except Exception as exc:  # noqa: BLE001 - the SDK raises several unrelated types here
            failures.append(f"{host}: {type(exc).__name__}: {exc}")
    raise EngineUnavailable(
        "no Docker engine is reachable",
        path=", ".join(candidate_hosts(docker_host)),
        remedy=START_ENGINE,
        detail="\n".join(failures),
    )
