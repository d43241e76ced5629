"""Scratch stores as containers (``scratch.provider = "containers"``), on testcontainers.

One container per store: PostgreSQL with pgvector, SeaweedFS' S3 gateway, and the warehouse
(StarRocks ``allin1`` where the user has the image, the MariaDB stand-in otherwise). Each is
published on 127.0.0.1 only, on a port the engine picks, and waited for with a deadline that
tells "running" (the container has not exited) apart from "ready" (the service answers); a
store that fails carries its container's log tail in the error.

Images: each store's image comes from ``[containers]`` (``postgres_image``...); left empty,
the upstream image a registry would serve (``pgvector/pgvector``, ``chrislusf/seaweedfs``,
``mariadb``) is used when the engine has it, else the local stand-in ``scrydon-drill
images build`` made (``scrydon-drill/<name>:local``). ``pull`` says when to pull: ``missing``
(default), ``never``, ``always``. Names and digests of what ran go to the evidence.

Everything the provider creates carries the labels ``io.scrydon-drill.run=<run id>`` and
``io.scrydon-drill.owner``; ``stop()`` removes exactly those containers (with their anonymous
volumes), ``sweep()`` those of dead runs, and nothing unlabelled is ever touched.
testcontainers' reaper (Ryuk) needs its image from a registry: it is used only where the
engine already has that image; otherwise the harness cleans up by label itself.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import socket
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.config import DrillConfig
from harness.errors import ScratchError, ServerStartError
from harness.scratch.base import RUN_LABEL, SCRATCH_STORES, ScratchProvider, SweepReport
from harness.scratch.endpoints import Endpoints, PostgresEndpoint
from harness.scratch.run import Run
from harness.scratch.storespec import (
    POSTGRES_IDS,
    StoreSpec,
    extra_env,
    local_endpoints,
    local_postgres,
    readiness_probe,
    s3_endpoint,
    store_spec,
    warehouse_endpoint,
)
from harness.tools.pitr import (
    PitrResult,
    base_backup_major,
    chown_ids,
    prepare_datadir,
    recovery_failed,
    recovery_proof,
    recovery_settings,
    stage_wal,
)
from harness.tools.wait import Died, WaitTimeout, wait_until

OWNER_LABEL = "io.scrydon-drill.owner"
STORE_LABEL = "io.scrydon-drill.store"
ENGINE_FILE = "containers.json"  # in the run folder: the engine the run's containers are on
_LOG_TAIL = 60


def _testcontainers_environment(engine: Any) -> None:
    """Settings testcontainers reads: the engine the harness connected to, 127.0.0.1 as the
    host of published ports (inside a container itself, as on machines with /.dockerenv, it
    would otherwise hand out the bridge gateway), and its reaper (Ryuk) only where the
    engine already has the reaper's image: pulling it needs a registry."""
    import docker.errors
    from testcontainers.core.config import testcontainers_config

    os.environ.setdefault("DOCKER_HOST", engine.host)
    os.environ.setdefault("TESTCONTAINERS_HOST_OVERRIDE", "127.0.0.1")
    try:
        engine.client.images.get(testcontainers_config.ryuk_image)
    except docker.errors.ImageNotFound:
        testcontainers_config.ryuk_disabled = True


@dataclass(frozen=True)
class ImageChoice:
    """The image a store runs, and why."""

    store: str
    ref: str
    digest: str  # the image id (sha256:...) and, when pulled, its registry digest
    why: str


@dataclass
class _Store:
    """One running store container."""

    store: str
    container: Any  # testcontainers DockerContainer
    image: ImageChoice
    spec: StoreSpec
    port: int = 0
    endpoint: PostgresEndpoint | None = None  # PostgreSQL: asked once, when first needed
    version: str = ""  # the warehouse's version, asked once


class ContainersProvider(ScratchProvider):
    """PostgreSQL, SeaweedFS and the warehouse as labelled containers on 127.0.0.1."""

    name = "containers"

    def __init__(self, config: DrillConfig, run: Run, *,
                 stores: tuple[str, ...] = SCRATCH_STORES) -> None:
        super().__init__(config, run, stores=stores)
        self.cc = config.containers
        self._stores: dict[str, _Store] = {}
        self._extra: list[_Store] = []  # recovery servers, stopped with the rest
        self._engine: Any = None

    # -- the engine and the images ---------------------------------------------------------
    def _client(self) -> Any:
        if self._engine is None:
            from harness.images.engine import connect
            from harness.images.errors import EngineUnavailable

            try:
                self._engine = connect(self.cc.docker_host or None)
            except EngineUnavailable as exc:
                raise ScratchError(f"the containers provider needs a Docker engine: "
                                   f"{exc.message}", path=exc.path, remedy=exc.remedy,
                                   detail=exc.detail) from exc
            # The sweep of a killed run must reach the same engine, whatever its environment.
            (self.run.directory / ENGINE_FILE).write_text(
                json.dumps({"docker_host": self._engine.host}))
        return self._engine.client

    def labels(self, store: str) -> dict[str, str]:
        """The labels of a container this run creates."""
        return {RUN_LABEL: self.run.run_id,
                OWNER_LABEL: f"{socket.gethostname()}:{os.getpid()}",
                STORE_LABEL: store}

    def _candidates(self, service: str, major: int) -> tuple[list[str], bool]:
        """Images to try for a service, and whether the user named one."""
        from harness.images import default_images, local_images

        configured = {"postgres": self.cc.postgres_image, "seaweedfs": self.cc.objects_image,
                      "warehouse": self.cc.warehouse_image}[service]
        if configured:
            return [configured], True
        if service == "postgres":
            upstream = default_images()["postgres"].replace("-pg16", f"-pg{major}")
            local = [local_images()["postgres"]] if major == 16 else []
            return [upstream, *local], False
        name = "mariadb" if service == "warehouse" else service
        return [default_images()[name], local_images()[name]], False

    def choose_image(self, service: str, store: str, *, major: int | None = None
                     ) -> ImageChoice:
        """The image a store runs (see the module's documentation); ``major`` is the
        PostgreSQL major version wanted (default: ``scratch.postgres_version``)."""
        import docker.errors

        client = self._client()
        candidates, named = self._candidates(
            service, major or self.config.scratch.postgres_version)
        policy = self.cc.pull
        tried: list[str] = []
        for ref in candidates:
            if policy == "always" and named:
                self._pull(client, ref)
            try:
                image = client.images.get(ref)
            except docker.errors.ImageNotFound:
                tried.append(f"{ref}: not in the engine")
                if policy == "never" or not named:
                    continue
                image = self._pull(client, ref)
            why = "configured" if named else ("upstream default present in the engine"
                                               if ref == candidates[0] else
                                               "local stand-in (scrydon-drill images build)")
            digests = ",".join(image.attrs.get("RepoDigests") or [])
            return ImageChoice(store, ref, f"{image.id}" + (f" ({digests})" if digests else ""),
                               why)
        if policy != "never" and not named:
            image = self._pull(client, candidates[0])
            return ImageChoice(store, candidates[0], str(image.id), "pulled")
        key = "objects" if service == "seaweedfs" else service
        raise ScratchError(
            f"no image for the {store} store: " + "; ".join(tried),
            remedy="build the local stand-ins with 'scrydon-drill images build', name an "
                   f"image your engine has in containers.{key}_image, or allow pulling "
                   "(containers.pull)")

    @staticmethod
    def _pull(client: Any, ref: str) -> Any:
        try:
            return client.images.pull(ref)
        except Exception as exc:  # noqa: BLE001 - the SDK raises several types here
            raise ScratchError(f"pulling {ref} failed: {exc}",
                               remedy="make the image available to the engine (a registry "
                                      "it can reach, docker load, or scrydon-drill images "
                                      "build for the local stand-ins)") from exc

    # -- containers ---------------------------------------------------------------------------
    def _container(self, spec: StoreSpec, image: ImageChoice,
                   volumes: Mapping[str, str] | None = None) -> _Store:
        self._client()
        _testcontainers_environment(self._engine)
        from testcontainers.core.container import DockerContainer

        container = DockerContainer(image.ref)
        for key, value in spec.env.items():
            container.with_env(key, value)
        # Published on the loopback only, on a port the engine picks.
        ports: dict[str, Any] = container.ports  # the SDK takes (host ip, host port)
        ports[f"{spec.port}/tcp"] = ("127.0.0.1", None)
        if spec.command:
            container.with_command(spec.command)
        for host, inside in (volumes or {}).items():
            container.with_volume_mapping(host, inside, "rw")
        kwargs: dict[str, Any] = {"labels": self.labels(spec.store)}
        if self.cc.memory:
            kwargs["mem_limit"] = self.cc.memory
        if self.cc.cpus:
            kwargs["nano_cpus"] = int(self.cc.cpus * 1e9)
        container.with_kwargs(**kwargs)
        container.with_name(f"scrydon-drill-{self.run.run_id}-{spec.store}".lower())
        item = _Store(store=spec.store, container=container, image=image, spec=spec)
        try:
            container.start()
        except Exception as exc:  # noqa: BLE001 - reported with the store and image
            raise ScratchError(f"the {spec.store} container ({image.ref}) did not start: {exc}",
                               remedy="check the image and the engine's log") from exc
        wrapped = container.get_wrapped_container()
        wrapped.reload()
        bindings = wrapped.attrs["NetworkSettings"]["Ports"].get(f"{spec.port}/tcp") or []
        item.port = int(bindings[0]["HostPort"]) if bindings else 0
        return item

    def _running(self, item: _Store) -> bool:
        wrapped = item.container.get_wrapped_container()
        wrapped.reload()
        return bool(wrapped.status in ("created", "running"))

    def _wait(self, item: _Store, probe: Any, transient: tuple[type[BaseException], ...],
              timeout: float) -> float:
        t0 = time.monotonic()
        try:
            wait_until(probe, timeout=timeout, transient=transient,
                       alive=lambda: self._running(item))
        except Died as exc:
            raise ServerStartError(
                f"the {item.store} container ({item.image.ref}) exited before it was ready",
                remedy="read the container's log below", detail=self._tail(item)) from exc
        except WaitTimeout as exc:
            raise ServerStartError(
                f"the {item.store} container ({item.image.ref}) was running but not ready "
                f"after {timeout:.0f} s"
                + (f" (last probe: {exc.last_error})" if exc.last_error else ""),
                remedy="raise scratch.ready_timeout on a slow machine, or read the log",
                detail=self._tail(item)) from exc
        return time.monotonic() - t0

    @staticmethod
    def _tail(item: _Store, lines: int = _LOG_TAIL) -> str:
        try:
            raw = item.container.get_wrapped_container().logs(tail=lines)
            return str(raw.decode(errors="replace"))
        except Exception as exc:  # noqa: BLE001 - a log is help, not a requirement
            return f"(no log: {exc})"

    # -- the stores ---------------------------------------------------------------------------
    def _start_store(self, store: str) -> _Store:
        service = {"postgres": "postgres", "objects": "seaweedfs",
                   "warehouse": "warehouse"}[store]
        image = self.choose_image(service, store)
        return self._container(store_spec(store, image.ref, self.config), image)

    def start(self) -> Endpoints:
        """Start a container per store, then wait until every one answers."""
        if self._started:
            return self.endpoints
        self._started = True
        try:
            t0 = time.monotonic()
            for store in self.stores:
                self._stores[store] = self._start_store(store)
            deadline = t0 + self.config.scratch.ready_timeout
            for store, item in self._stores.items():
                took = self._wait(item, *self._probe(item),
                                  timeout=max(1.0, deadline - time.monotonic()))
                self.timings.add(f"{store}.ready", took)
            self.timings.add("containers.start", time.monotonic() - t0)
        except BaseException:
            self.stop()
            raise
        return self.endpoints

    def _probe(self, item: _Store) -> tuple[Any, tuple[type[BaseException], ...]]:
        """The readiness probe of a store and the exceptions it raises while starting."""
        endpoint = {"postgres": lambda: self._postgres_endpoint(item),
                    "objects": lambda: s3_endpoint(item.spec, "127.0.0.1", item.port),
                    "warehouse": lambda: warehouse_endpoint(item.spec, "127.0.0.1", item.port)}
        return readiness_probe(item.store, endpoint[item.store])

    def _postgres_endpoint(self, item: _Store, *, major: int | None = None) -> PostgresEndpoint:
        return local_postgres(item, self.config.scratch.postgres_version, major=major)

    @property
    def endpoints(self) -> Endpoints:
        """Endpoints of the running containers."""
        return local_endpoints(self._stores, self.config.scratch.postgres_version)

    def stop(self) -> None:
        """Remove every container this provider created (with its anonymous volumes)."""
        t0 = time.monotonic()
        errors = []
        for item in [*self._extra, *reversed(list(self._stores.values()))]:
            try:
                item.container.stop(force=True, delete_volume=True)
            except Exception as exc:  # noqa: BLE001 - keep removing the others
                if "No such container" not in str(exc):
                    errors.append(f"{item.store}: {exc}")
        self._extra.clear()
        self._stores.clear()
        self.timings.add("containers.stop", time.monotonic() - t0)
        if self._engine is not None:
            self._engine.close()
            self._engine = None
        if errors:
            raise ScratchError("some containers could not be removed", detail="\n".join(errors),
                               remedy="run 'scrydon-drill sweep' to remove leftovers")

    # -- evidence ----------------------------------------------------------------------------
    def describe(self) -> dict[str, str]:
        """The provider and, per store, the image it ran (name and digest)."""
        out = {"provider": "containers", "docker_host": getattr(self._engine, "host", "")}
        for item in [*self._stores.values(), *self._extra]:
            out[f"{item.store}_image"] = f"{item.image.ref} {item.image.digest}"
        return out

    def versions(self) -> dict[str, str]:
        """Server versions, and the image behind each store."""
        out = super().versions()
        for item in self._stores.values():
            out[f"{item.store} image"] = item.image.ref
        return out

    def logs(self, store: str) -> str:
        """The tail of a store container's log."""
        item = self._stores.get(store)
        return self._tail(item) if item else ""

    # -- point-in-time recovery -----------------------------------------------------------------
    def recover_postgres(self, base: Path, wal: Path, target: dt.datetime
                         ) -> tuple[PostgresEndpoint, PitrResult]:
        """Recover in a PostgreSQL container of the base backup's major version, the base
        backup and the staged WAL mounted from the run folder."""
        major = base_backup_major(base)
        image = self.choose_image("postgres", "postgres", major=major)
        work = self.run.subdir(f"pitr-{len(self._extra) + 1}", mode=0o755)
        stage_wal(wal, work / "wal")
        prepare_datadir(base, work / "data", None)
        chown_ids(work, *POSTGRES_IDS)
        settings = recovery_settings("/pitr/wal", target, "/pitr/data/pg_hba.conf")
        settings["listen_addresses"] = "*"
        command = ["postgres"] + [arg for k, v in settings.items() for arg in ("-c", f"{k}={v}")]
        spec = dataclasses.replace(store_spec("postgres", image.ref, self.config),
                                   store="postgres-pitr", command=command,
                                   env={"PGDATA": "/pitr/data", **extra_env(self.config)})
        item = self._container(spec, image, volumes={str(work): "/pitr"})
        self._extra.append(item)
        password = spec.password

        def psql(sql: str) -> tuple[int, str]:
            # Trust on the container's own socket: the base backup carries the source's
            # passwords, which the drill does not know; a fresh one is set once promoted.
            code, out = item.container.get_wrapped_container().exec_run(
                ["psql", "-U", "postgres", "-Atc", sql], user="postgres")
            return int(code), out.decode(errors="replace").strip()

        def ready() -> bool:
            code, out = psql("SELECT pg_is_in_recovery()")
            if code != 0 or out != "f":
                return False
            return psql(f"ALTER USER postgres PASSWORD '{password}'")[0] == 0

        try:
            self._wait(item, ready, (OSError,), max(300.0, self.config.scratch.ready_timeout))
        except ServerStartError as exc:
            log = self._tail(item, 120)
            raise recovery_failed(log, target, str(wal), str(base)) from exc
        log = str(item.container.get_wrapped_container().logs().decode(errors="replace"))
        proof = recovery_proof(log, target, str(wal))
        return self._postgres_endpoint(item, major=major), proof

    # -- leftovers ---------------------------------------------------------------------------
    @classmethod
    def sweep(cls, dead_runs: Mapping[str, Path], report: SweepReport) -> None:
        """Remove the containers, networks and volumes labelled with a dead run's id."""
        if not dead_runs:
            return
        hosts: set[str | None] = {None}
        for folder in dead_runs.values():
            try:
                hosts.add(json.loads((folder / ENGINE_FILE).read_text())["docker_host"])
            except (OSError, ValueError, KeyError, TypeError):
                continue  # no containers were started by that run (or its folder is gone)
        seen: set[str] = set()
        for host in sorted(hosts, key=lambda h: h or ""):
            cls._sweep_engine(host, set(dead_runs), report, seen)

    @classmethod
    def _sweep_engine(cls, host: str | None, wanted: set[str], report: SweepReport,
                      seen: set[str]) -> None:
        try:
            from harness.images.engine import connect

            engine = connect(host, timeout=30)
        except Exception:  # noqa: BLE001 - no engine (or no SDK): nothing of ours can run
            return
        if engine.host in seen:
            engine.close()
            return
        seen.add(engine.host)
        try:
            client = engine.client
            for container in client.containers.list(all=True, filters={"label": RUN_LABEL}):
                if cls.owns(container.labels or {}, wanted):
                    container.remove(force=True, v=True)
                    report.removed.append(f"container {container.name} "
                                          f"(run {container.labels[RUN_LABEL]})")
            for network in client.networks.list(filters={"label": RUN_LABEL}):
                if cls.owns(network.attrs.get("Labels") or {}, wanted):
                    network.remove()
                    report.removed.append(f"network {network.name}")
            for volume in client.volumes.list(filters={"label": RUN_LABEL}):
                if cls.owns(volume.attrs.get("Labels") or {}, wanted):
                    volume.remove(force=True)
                    report.removed.append(f"volume {volume.name}")
        finally:
            engine.close()
