"""The local images, built and run for real: each one must serve its store.

Builds are cached by recipe hash, so after the first run the module mostly starts
containers. Every container carries the label ``io.scrydon-drill.test=<this run>``, publishes
its port on 127.0.0.1 only and is removed (with its anonymous volumes) whatever happens.
Skipped only when no Docker engine is reachable.
"""

from __future__ import annotations

import os
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from harness.images import EngineUnavailable, ImageInfo, build_images
from harness.images.engine import Engine, connect

pytestmark = pytest.mark.integration

TEST_LABEL = "io.scrydon-drill.test"
RUN_ID = f"images-{os.getpid()}-{uuid.uuid4().hex[:8]}"
READY_TIMEOUT = 90.0


@pytest.fixture(scope="module")
def engine() -> Iterator[Engine]:
    """The engine, or a skip when none is reachable; sweeps this run's containers at the end."""
    try:
        eng = connect()
    except EngineUnavailable as exc:
        pytest.skip(f"no Docker engine reachable at {exc.path}; start one (scripts/dockerd.sh, "
                    "or see harness.images.engine.START_ENGINE) and set DOCKER_HOST")
    yield eng
    try:
        label = {"label": f"{TEST_LABEL}={RUN_ID}"}
        for container in eng.client.containers.list(all=True, filters=label):
            container.remove(force=True, v=True)
        assert not eng.client.containers.list(all=True, filters=label)
    finally:
        eng.close()


@pytest.fixture(scope="module")
def images(engine: Engine) -> dict[str, ImageInfo]:
    """All images, built once (or found by their recipe hash)."""
    return build_images(docker_host=engine.host, progress=lambda line: print(line))


Runner = Callable[..., tuple[Any, int]]


@pytest.fixture()
def run_container(engine: Engine) -> Iterator[Runner]:
    """Start a labelled container with one port published on 127.0.0.1; removed afterwards."""
    started: list[Any] = []

    def run(image: str, *, port: int, env: dict[str, str]) -> tuple[Any, int]:
        container = engine.client.containers.run(
            image, detach=True, environment=env, labels={TEST_LABEL: RUN_ID},
            ports={f"{port}/tcp": ("127.0.0.1", None)})
        started.append(container)
        container.reload()
        bindings = container.attrs["NetworkSettings"]["Ports"][f"{port}/tcp"]
        assert bindings and all(b["HostIp"] == "127.0.0.1" for b in bindings), bindings
        return container, int(bindings[0]["HostPort"])

    yield run
    for container in started:
        container.remove(force=True, v=True)


def wait_for(container: Any, probe: Callable[[], Any], what: str) -> tuple[Any, float]:
    """Call ``probe`` until it returns; fail at once (with the logs) if the container dies."""
    started = time.monotonic()
    last: Exception | None = None
    while time.monotonic() - started < READY_TIMEOUT:
        try:
            return probe(), time.monotonic() - started
        except Exception as exc:  # noqa: BLE001 - any failure means "not ready yet"
            last = exc
        container.reload()
        if container.status not in ("created", "running"):
            break
        time.sleep(0.5)
    logs = container.logs(tail=60).decode(errors="replace")
    pytest.fail(f"{what} not ready (container {container.status}): {last}\n{logs}")


def test_second_build_is_cached_and_images_are_labelled(engine: Engine,
                                                        images: dict[str, ImageInfo],
                                                        measure: Callable[[str], None]) -> None:
    assert list(images) == ["base", "postgres", "seaweedfs", "mariadb"]
    started = time.monotonic()
    again = build_images(docker_host=engine.host, progress=lambda _: None)
    took = time.monotonic() - started
    assert not any(info.built for info in again.values())
    assert {n: i.tag for n, i in again.items()} == {n: i.tag for n, i in images.items()}
    assert took < 10, f"a build with nothing changed took {took:.1f} s"
    for info in again.values():
        image = engine.client.images.get(info.tag)
        assert image.labels["io.scrydon-drill.recipe"] == info.recipe_hash
        assert info.tag == f"scrydon-drill/{info.name}:{info.recipe_hash}"
        assert engine.client.images.get(info.local_tag).id == image.id == info.image_id
    for info in images.values():
        measure(f"image {info.name}: {'built' if info.built else 'cached'} in "
                f"{info.seconds:.1f} s, {info.size_bytes / 1e6:.0f} MB ({info.tag})")
    measure(f"images: second build with nothing changed took {took:.2f} s")


def test_postgres_image_has_pgvector_and_amcheck(images: dict[str, ImageInfo],
                                                 run_container: Runner,
                                                 measure: Callable[[str], None]) -> None:
    import psycopg

    from harness.tools.pgbin import find

    password = "pw with 'quote' and \\ backslash"
    container, port = run_container(images["postgres"].tag, port=5432, env={
        "POSTGRES_USER": "drill", "POSTGRES_PASSWORD": password, "POSTGRES_DB": "app"})
    dsn = dict(host="127.0.0.1", port=port, user="drill", password=password, dbname="app",
               connect_timeout=3)
    conn, ready = wait_for(container, lambda: psycopg.connect(**dsn, autocommit=True),
                           "PostgreSQL")
    with conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)
        conn.execute("CREATE EXTENSION vector")
        conn.execute("CREATE EXTENSION amcheck")
        conn.execute("CREATE TABLE items (id int PRIMARY KEY, embedding vector(3))")
        conn.execute("INSERT INTO items VALUES (1, '[1,0,0]'), (2, '[0,1,0]')")
        nearest = conn.execute(
            "SELECT id FROM items ORDER BY embedding <-> '[0.9,0.1,0]' LIMIT 1").fetchone()
        assert nearest == (1,)
        conn.execute("SELECT bt_index_check('items_pkey'::regclass, true)")
        version = conn.execute("SHOW server_version").fetchone()[0]
    # psql from this machine against the published port, and psql inside the container.
    out = subprocess.run([find(16).tool("psql"), "-h", "127.0.0.1", "-p", str(port), "-U", "drill",
                          "-d", "app", "-tAc", "SELECT 1"], capture_output=True, text=True,
                         env=dict(os.environ, PGPASSWORD=password), timeout=30)
    assert out.returncode == 0 and out.stdout.strip() == "1", out.stderr
    code, inside = container.exec_run(["psql", "-h", "127.0.0.1", "-U", "drill", "-d", "app",
                                       "-tAc", "SELECT 1"], environment={"PGPASSWORD": password})
    assert code == 0 and inside.decode().strip() == "1"
    # The server itself is PID 1, as the unprivileged postgres user (setpriv + exec).
    code, status = container.exec_run(["cat", "/proc/1/status"])
    fields = dict(line.split(":", 1) for line in status.decode().splitlines() if ":" in line)
    assert fields["Name"].strip() == "postgres" and fields["Uid"].split()[0] == "999"
    # So the engine's stop signal reaches it: a fast shutdown, not the 20 s kill deadline.
    started = time.monotonic()
    container.stop(timeout=20)
    stopped = time.monotonic() - started
    container.reload()
    assert container.attrs["State"]["ExitCode"] == 0 and stopped < 10
    measure(f"postgres container: PostgreSQL {version} ready in {ready:.1f} s, "
            f"stopped in {stopped:.1f} s")


def test_postgres_image_satisfies_testcontainers(engine: Engine, images: dict[str, ImageInfo],
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    # This machine looks like a container to testcontainers (/.dockerenv) and no reaper image
    # can be pulled: hand out 127.0.0.1, use the engine directly, clean up ourselves.
    for key, value in {"DOCKER_HOST": engine.host, "TESTCONTAINERS_RYUK_DISABLED": "true",
                       "TESTCONTAINERS_HOST_OVERRIDE": "127.0.0.1",
                       "TESTCONTAINERS_CONNECTION_MODE": "docker_host"}.items():
        monkeypatch.setenv(key, value)
    import psycopg
    from testcontainers.community.postgres import PostgresContainer
    from testcontainers.core.config import ConnectionMode, testcontainers_config

    monkeypatch.setattr(testcontainers_config, "ryuk_disabled", True)
    monkeypatch.setattr(testcontainers_config, "tc_host_override", "127.0.0.1")
    monkeypatch.setattr(testcontainers_config, "connection_mode_override",
                        ConnectionMode.docker_host)
    pg = PostgresContainer(images["postgres"].tag, username="tc", password="tc-secret",
                           dbname="tcdb", driver=None).with_kwargs(labels={TEST_LABEL: RUN_ID})
    pg.ports["5432"] = ("127.0.0.1", None)  # type: ignore[assignment] - published on loopback only
    # Its readiness check runs psql through sh inside the container.
    with pg:
        url = pg.get_connection_url()
        assert "@127.0.0.1:" in url
        with psycopg.connect(url) as conn:
            assert conn.execute("SELECT current_user, current_database()").fetchone() == (
                "tc", "tcdb")


def test_seaweedfs_image_serves_s3_with_the_given_credentials(
        images: dict[str, ImageInfo], run_container: Runner,
        measure: Callable[[str], None]) -> None:
    import boto3
    from botocore.config import Config
    from botocore.exceptions import ClientError

    container, port = run_container(images["seaweedfs"].tag, port=8333, env={
        "AWS_ACCESS_KEY_ID": "drill", "AWS_SECRET_ACCESS_KEY": "drill-secret"})

    def client(secret: str) -> Any:
        return boto3.client("s3", endpoint_url=f"http://127.0.0.1:{port}", region_name="us-east-1",
                            aws_access_key_id="drill", aws_secret_access_key=secret,
                            config=Config(s3={"addressing_style": "path"},
                                          retries={"max_attempts": 1}))

    s3 = client("drill-secret")

    def put() -> None:
        s3.create_bucket(Bucket="images-test")
        s3.put_object(Bucket="images-test", Key="dir/hello.txt", Body=b"hello from the image")

    _, ready = wait_for(container, put, "SeaweedFS S3")
    body = s3.get_object(Bucket="images-test", Key="dir/hello.txt")["Body"].read()
    assert body == b"hello from the image"
    with pytest.raises(ClientError):
        client("wrong-secret").get_object(Bucket="images-test", Key="dir/hello.txt")
    measure(f"seaweedfs container: S3 put/get ready in {ready:.1f} s")


def test_mariadb_image_accepts_the_root_password(images: dict[str, ImageInfo],
                                                 run_container: Runner,
                                                 measure: Callable[[str], None]) -> None:
    import pymysql

    password = "r00t'pw\\with`odd chars"
    container, port = run_container(images["mariadb"].tag, port=3306,
                                    env={"MARIADB_ROOT_PASSWORD": password,
                                         "MARIADB_DATABASE": "warehouse"})

    def connect_root() -> Any:
        return pymysql.connect(host="127.0.0.1", port=port, user="root", password=password,
                               database="warehouse", connect_timeout=3)

    conn, ready = wait_for(container, connect_root, "MariaDB")
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT 1")
            assert cur.fetchone() == (1,)
            cur.execute("SELECT VERSION()")
            version = cur.fetchone()[0]
    finally:
        conn.close()
    with pytest.raises(pymysql.err.OperationalError):
        pymysql.connect(host="127.0.0.1", port=port, user="root", password="", connect_timeout=3)
    measure(f"mariadb container: MariaDB {version} ready in {ready:.1f} s")
