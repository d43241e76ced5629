"""Real servers started as child processes of the harness: PostgreSQL, SeaweedFS, MariaDB.

Each server lives in its own folder of the run directory, listens on 127.0.0.1 only, on ports
picked free at start, and knows how to tell "alive" from "ready" and how to stop.
"""

from __future__ import annotations

import os
import pwd
import re
import secrets
import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import Any, Protocol

from harness.errors import ServerNotFound, ServerStartError
from harness.records import OWNER_ENV
from harness.scratch.endpoints import PostgresEndpoint, S3Endpoint, WarehouseEndpoint
from harness.scratch.ports import distinct_free_ports, free_port
from harness.scratch.process import ServerProcess
from harness.scratch.reap import kill_process_tree
from harness.scratch.run import Run
from harness.scratch.tempdirs import system_tmp
from harness.tools.binaries import WEED_SCRATCH_FLAGS, find_mariadbd, find_weed
from harness.tools.pgbin import PgInstallation
from harness.tools.wait import tail


class LocalServer(Protocol):
    """What the local provider needs from each server."""

    name: str
    process: ServerProcess | None

    def start(self) -> None: ...

    def wait_ready(self, timeout: float) -> float: ...

    def stop(self) -> float: ...


def unprivileged_user(preferred: str = "") -> str | None:
    """The OS user PostgreSQL runs as when we are root (it refuses to run as root)."""
    if os.geteuid() != 0:
        return None
    for name in filter(None, (preferred, "postgres", "nobody")):
        try:
            pwd.getpwnam(name)
            return name
        except KeyError:
            continue
    raise ServerNotFound(
        "PostgreSQL refuses to run as root and no unprivileged user was found",
        store="postgres",
        remedy="create one (useradd --system postgres) or set scratch.os_user",
    )


def blocking_folder(path: Path, user: str) -> Path | None:
    """The first folder above ``path`` that ``user`` may not enter (no search permission
    for it as owner, group member or other), None when the whole way down is open."""
    import grp
    import stat

    pw = pwd.getpwnam(user)
    groups = {pw.pw_gid} | {g.gr_gid for g in grp.getgrall() if user in g.gr_mem}
    for folder in reversed(path.resolve().parents):
        st = folder.stat()
        if st.st_uid == pw.pw_uid:
            allowed = bool(st.st_mode & stat.S_IXUSR)
        elif st.st_gid in groups:
            allowed = bool(st.st_mode & stat.S_IXGRP)
        else:
            allowed = bool(st.st_mode & stat.S_IXOTH)
        if not allowed:
            return folder
    return None


def require_reachable(path: Path, user: str | None) -> None:
    """Fail before initdb when the server's OS user cannot reach ``path`` (initdb would bury
    "Permission denied" in its log)."""
    if not user:
        return
    blocked = blocking_folder(path, user)
    if blocked is not None:
        mode = oct(blocked.stat().st_mode & 0o777)
        raise ServerStartError(
            f"PostgreSQL runs as '{user}', which cannot enter {blocked} (mode {mode}): the "
            f"scratch folder {path} below it is out of its reach",
            path=str(blocked), store="postgres",
            remedy=f"set scratch.root to a folder '{user}' can reach (e.g. under /tmp), or let "
                   f"it through: chmod o+x {blocked}")


def _chown_tree(path: Path, user: str | None) -> None:
    if not user:
        return
    pw = pwd.getpwnam(user)
    os.chown(path, pw.pw_uid, pw.pw_gid)
    for root, dirs, files in os.walk(path):
        for n in dirs + files:
            os.chown(os.path.join(root, n), pw.pw_uid, pw.pw_gid)


def run_as(argv: list[str], user: str | None, *, run_id: str,
           env: dict[str, str] | None = None, timeout: float = 300, what: str,
           log: Path, cwd: Path | None = None) -> None:
    """Run a one-shot command (initdb, mariadb-install-db) as ``user``, logging its output.

    It carries the run's owner mark like the servers: if the drill is killed while it runs,
    the sweep must stop it before removing the folder it writes into."""
    kwargs: dict[str, Any] = {}
    if user:
        pw = pwd.getpwnam(user)
        kwargs.update(user=pw.pw_uid, group=pw.pw_gid, extra_groups=[])
    full_env = dict(os.environ)
    full_env.update(env or {})
    full_env[OWNER_ENV] = run_id
    # Its own session: interrupted, the command goes with everything it started (initdb's
    # and mariadb-install-db's bootstrap servers would otherwise go on writing into the
    # folder the teardown is removing).
    with log.open("ab") as fh:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=fh,  # noqa: S603
                                stderr=subprocess.STDOUT, env=full_env, cwd=cwd,
                                start_new_session=True, **kwargs)
    try:
        code = proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        kill_process_tree(proc)
        raise ServerStartError(f"{what} did not finish within {timeout:g} s", path=str(log),
                               remedy="read its log; a slow or full disk is typical",
                               detail=tail(log)) from None
    except BaseException:
        kill_process_tree(proc)
        raise
    if code != 0:
        raise ServerStartError(f"{what} failed with exit code {code}",
                               path=str(log), detail=tail(log))


class _ChildServer:
    """What every local server shares: readiness through ``_ready``, stop of its process."""

    name: str
    process: ServerProcess | None = None

    def _ready(self) -> bool:
        raise NotImplementedError

    def _transient(self) -> tuple[type[BaseException], ...]:
        """What ``_ready`` raises while the server is still starting (anything else is a
        real failure)."""
        return (OSError,)

    def wait_ready(self, timeout: float) -> float:
        """Poll ``_ready`` until it succeeds (failing at once if the process dies)."""
        assert self.process
        return self.process.wait_ready(self._ready, timeout, self._transient())

    def stop(self) -> float:
        """Ask the server to stop, SIGKILL after its deadline; return the seconds taken."""
        return self.process.stop() if self.process else 0.0


SOCKETS_HOLDER = "scrydon-drill-sock"


def short_socket_dir(run_id: str, name: str) -> Path:
    """A short socket folder for one server of a run, outside a too-deep run folder."""
    return system_tmp() / SOCKETS_HOLDER / f"{run_id}.{name}"


def remove_short_socket_dirs(run_id: str) -> list[Path]:
    """Remove the short socket folders of ``run_id`` (only folders named after it)."""
    holder = system_tmp() / SOCKETS_HOLDER
    removed = []
    for path in holder.glob(f"{run_id}.*") if holder.is_dir() else []:
        shutil.rmtree(path, ignore_errors=True)
        removed.append(path)
    return removed


class LocalPostgres(_ChildServer):
    """A PostgreSQL cluster created with initdb and run with ``postgres`` directly."""

    def __init__(self, run: Run, inst: PgInstallation, *, name: str = "postgres",
                 os_user: str = "", settings: dict[str, str] | None = None,
                 stop_timeout: float = 10.0, password: str | None = None,
                 initdb_args: list[str] | None = None,
                 env: dict[str, str] | None = None) -> None:
        self.name = name
        self.run = run
        self.inst = inst
        self.env = env or {}
        self.initdb_args = initdb_args or []
        self.user = unprivileged_user(os_user)
        self.settings = settings or {}
        self.stop_timeout = stop_timeout
        self.password = password or secrets.token_urlsafe(18)
        self.base = run.subdir(name, mode=0o755)
        self.datadir = self.base / "data"
        self.sockdir = self.base / "sock"
        if len(str(self.sockdir)) + len("/.s.PGSQL.65535") > 107:
            # A unix socket path holds 107 bytes: under a deep scratch.root the socket goes
            # to a short folder named after the run (removed on stop, or by the sweep).
            self.sockdir = short_socket_dir(run.run_id, name)
        self.port = 0
        self.process: ServerProcess | None = None

    def stop(self) -> float:
        """Stop the server; remove its socket folder when it lives outside the run folder."""
        try:
            return super().stop()
        finally:
            if not self.sockdir.is_relative_to(self.base):
                shutil.rmtree(self.sockdir, ignore_errors=True)

    def initdb(self) -> None:
        """Create the cluster (superuser ``postgres``, scram on TCP, trust on the socket)."""
        self.sockdir.mkdir(exist_ok=True)
        pwfile = self.base / "pwfile"
        pwfile.write_text(self.password + "\n")
        os.chmod(pwfile, 0o600)
        _chown_tree(self.base, self.user)
        run_as([self.inst.tool("initdb"), "-D", str(self.datadir), "-U", "postgres",
                 "--auth-local=trust", "--auth-host=scram-sha-256", f"--pwfile={pwfile}",
                 "-E", "UTF8", "--locale=C", "--no-sync", *self.initdb_args],
                self.user, run_id=self.run.run_id, what=f"initdb ({self.inst.describe()})",
                log=self.base / "initdb.log")
        pwfile.unlink()

    def start(self) -> None:
        """initdb (first time) and start the server on a free port."""
        # The socket path ("<sockdir>/.s.PGSQL.<port>") must fit in 107 bytes.
        if len(str(self.sockdir)) + len("/.s.PGSQL.65535") > 107:
            raise ServerStartError(
                f"the PostgreSQL socket folder path is too long ({len(str(self.sockdir))} "
                "bytes; unix sockets allow 107 with the file name)", path=str(self.sockdir),
                remedy="set TMPDIR to a shorter folder (the socket falls back there)")
        if not self.sockdir.is_relative_to(self.base):
            self.sockdir.mkdir(parents=True, exist_ok=True)
            if self.user:
                shutil.chown(self.sockdir, self.user)
        require_reachable(self.base, self.user)
        if not self.datadir.exists():
            self.initdb()
        self.port = free_port()
        settings = {
            "listen_addresses": "127.0.0.1",
            "port": str(self.port),
            "unix_socket_directories": str(self.sockdir),
            "logging_collector": "off",
            "fsync": "off",  # scratch data is disposable; durability only costs time here
            "max_connections": "60",
            **self.settings,
        }
        argv = [self.inst.tool("postgres"), "-D", str(self.datadir)]
        for key, value in settings.items():
            argv += ["-c", f"{key}={value}"]
        self.process = ServerProcess(
            name=f"PostgreSQL {self.inst.version} ({self.name})", argv=argv, run_id=self.run.run_id,
            log_path=self.base / "server.log", user=self.user, env=self.env,
            # SIGINT is PostgreSQL's "fast" shutdown: it does not wait for clients to leave.
            stop_signal=signal.SIGINT, stop_timeout=self.stop_timeout)
        self.process.start()

    def _transient(self) -> tuple[type[BaseException], ...]:
        import psycopg

        return (OSError, psycopg.OperationalError)

    def _ready(self) -> bool:
        import psycopg

        with psycopg.connect(host="127.0.0.1", port=self.port, user="postgres",
                             password=self.password, dbname="postgres", connect_timeout=2) as c:
            c.execute("select 1")
        return True

    @property
    def endpoint(self) -> PostgresEndpoint:
        """How to reach this server."""
        return PostgresEndpoint(host="127.0.0.1", port=self.port, user="postgres",
                                password=self.password, major=self.inst.major,
                                version=self.inst.version, has_pgvector=self.inst.has_pgvector,
                                bindir=self.inst.bindir)


TMP_SOCKETS_FILE = "tmp-sockets.txt"
_WEED_SOCKET = re.compile(r"^/tmp/seaweedfs-[a-z0-9]+-grpc-\d+\.sock$")


def remove_tmp_sockets(listing: Path) -> list[Path]:
    """Remove the /tmp sockets a SeaweedFS server recorded in ``listing``; return them.

    Only paths of the exact form weed uses are touched, and only if they are sockets.
    """
    removed: list[Path] = []
    try:
        lines = listing.read_text().splitlines()
    except OSError:
        return removed
    for line in lines:
        path = Path(line.strip())
        if _WEED_SOCKET.match(str(path)) and path.is_socket():
            path.unlink(missing_ok=True)
            removed.append(path)
    return removed


class LocalSeaweed(_ChildServer):
    """A single-process SeaweedFS (master, volume, filer and S3 gateway)."""

    def __init__(self, run: Run, *, name: str = "seaweedfs", access_key: str = "drill",
                 secret_key: str = "drill-secret", stop_timeout: float = 3.0,
                 readers: dict[str, str] | None = None, volume_size_mb: int = 256,
                 volume_slots: str = "0") -> None:
        self.name = name
        self.run = run
        # Volumes of volume_size_mb each; "0" slots lets SeaweedFS allow as many as the free
        # disk holds (its default, 8, stops a drill at ~2 GiB of objects across buckets).
        self.volume_size_mb = volume_size_mb
        self.volume_slots = volume_slots
        self.access_key = access_key
        self.secret_key = secret_key
        # Extra identities that may only list and read (access key -> secret key).
        self.readers = dict(readers or {})
        # SeaweedFS waits for in-flight work on SIGTERM for many seconds; scratch data does not
        # need that grace, so the deadline is short.
        self.stop_timeout = stop_timeout
        self.base = run.subdir(name)
        self.s3_port = 0
        self.process: ServerProcess | None = None

    def start(self) -> None:
        """Start ``weed server -s3`` with every port set explicitly."""
        weed = find_weed()
        (self.base / "data").mkdir(exist_ok=True)
        (self.base / "logs").mkdir(exist_ok=True)
        ports = distinct_free_ports(9)
        master, master_grpc, volume, volume_grpc, filer, filer_grpc, s3, s3_grpc, metrics = ports
        self.s3_port = s3
        sockets = self._socket_dir()
        argv = [
            # -logdir is a global flag: it goes before the sub-command.
            weed, f"-logdir={self.base / 'logs'}", "server", f"-dir={self.base / 'data'}",
            "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
            f"-master.port={master}", f"-master.port.grpc={master_grpc}",
            f"-volume.port={volume}", f"-volume.port.grpc={volume_grpc}",
            f"-filer.port={filer}", f"-filer.port.grpc={filer_grpc}",
            f"-filer.localSocket={sockets / 'filer.sock'}",
            "-s3", f"-s3.port={s3}", f"-s3.port.grpc={s3_grpc}", "-s3.port.iceberg=0",
            "-s3.port.lance=0", f"-s3.localSocket={sockets / 's3.sock'}",
            f"-metricsPort={metrics}", "-volume.preStopSeconds=0",
            *WEED_SCRATCH_FLAGS,
            f"-master.volumeSizeLimitMB={self.volume_size_mb}",
            f"-volume.max={self.volume_slots}",
        ]
        if self.readers:
            argv.append(f"-s3.config={self._identities()}")
        # weed also opens one unix socket per gRPC port in /tmp, whatever TMPDIR says, and
        # leaves them behind when killed. Record them so stop() and the sweep remove them.
        self.tmp_sockets = [Path(f"/tmp/seaweedfs-{kind}-grpc-{port}.sock") for kind, port in
                            (("master", master_grpc), ("volume", volume_grpc),
                             ("filer", filer_grpc), ("s3", s3_grpc))]
        (self.base / TMP_SOCKETS_FILE).write_text("".join(f"{p}\n" for p in self.tmp_sockets))
        self.process = ServerProcess(
            name=f"SeaweedFS ({self.name})", argv=argv, run_id=self.run.run_id,
            log_path=self.base / "server.log", stop_timeout=self.stop_timeout,
            env={"AWS_ACCESS_KEY_ID": self.access_key,
                 "AWS_SECRET_ACCESS_KEY": self.secret_key})
        self.process.start()

    def _identities(self) -> Path:
        """The S3 identities file: the admin key may do everything, each reader only Read
        and List (SeaweedFS' per-action permissions)."""
        import json

        identities = [{"name": "admin", "credentials": [{"accessKey": self.access_key,
                                                          "secretKey": self.secret_key}],
                       "actions": ["Admin", "Read", "List", "Tagging", "Write"]}]
        for number, (access, secret) in enumerate(sorted(self.readers.items()), 1):
            identities.append({"name": f"reader{number}",
                               "credentials": [{"accessKey": access, "secretKey": secret}],
                               "actions": ["Read", "List"]})
        path = self.base / "s3-identities.json"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump({"identities": identities}, fh)
        return path

    def _socket_dir(self) -> Path:
        # Short: unix socket paths are limited to 107 bytes.
        path = self.run.directory / "wt"
        path.mkdir(exist_ok=True)
        return path

    def stop(self) -> float:
        """SIGTERM, SIGKILL after the short deadline, then remove weed's sockets in /tmp."""
        took = super().stop()
        remove_tmp_sockets(self.base / TMP_SOCKETS_FILE)
        return took

    def wait_ready(self, timeout: float) -> float:
        """Wait for the gateway; a server that exits at once is started again, once.

        Nine ports are picked free and handed to weed, which binds them a moment later;
        another process may take one in between (weed then exits with 255). A second start
        on fresh ports tells that race apart from a real fault, which fails again.
        """
        assert self.process
        t0 = time.monotonic()
        try:
            return super().wait_ready(timeout)
        except ServerStartError as exc:
            exc.detail = (exc.detail or "") + self._glog_tail()
            if self.process.popen is None or self.process.popen.poll() is None:
                raise
            first = exc
        self.stop()
        self.start()
        try:
            return super().wait_ready(max(1.0, timeout - (time.monotonic() - t0)))
        except ServerStartError as exc:
            # server.log is appended to: its tail already holds both attempts.
            exc.detail = ("started twice, the second time on fresh ports; both failed\n"
                          + (exc.detail or "") + self._glog_tail())
            raise exc from first

    def _glog_tail(self) -> str:
        """The end of weed's newest log file (it logs to -logdir, not to stderr)."""
        logs = sorted((p for p in (self.base / "logs").glob("weed.*") if p.is_file()
                       and not p.is_symlink()), key=lambda p: p.stat().st_mtime)
        return f"\n-- {logs[-1].name} --\n{tail(logs[-1])}" if logs else ""

    def _transient(self) -> tuple[type[BaseException], ...]:
        from botocore.exceptions import BotoCoreError, ClientError

        # Until its volume server registers, the gateway answers 5xx (a ClientError).
        return (OSError, BotoCoreError, ClientError)

    def _ready(self) -> bool:
        # Writing and deleting a probe object proves master, volume, filer and S3 all work;
        # listing buckets alone succeeds before a volume is writable.
        client = self.endpoint.client()
        bucket = "drill-ready-probe"
        client.create_bucket(Bucket=bucket)  # type: ignore[attr-defined]
        client.put_object(Bucket=bucket, Key="probe", Body=b"ok")  # type: ignore[attr-defined]
        client.delete_object(Bucket=bucket, Key="probe")  # type: ignore[attr-defined]
        client.delete_bucket(Bucket=bucket)  # type: ignore[attr-defined]
        return True

    @property
    def endpoint(self) -> S3Endpoint:
        """How to reach the S3 gateway."""
        return S3Endpoint(url=f"http://127.0.0.1:{self.s3_port}", access_key=self.access_key,
                          secret_key=self.secret_key)


class LocalMariaDB(_ChildServer):
    """A MariaDB server standing in for StarRocks' MySQL protocol."""

    def __init__(self, run: Run, *, name: str = "mariadb", stop_timeout: float = 10.0,
                 password: str | None = None) -> None:
        self.name = name
        self.run = run
        self.stop_timeout = stop_timeout
        self.password = password or secrets.token_urlsafe(18)
        self.base = run.subdir(name)
        self.datadir = self.base / "data"
        self.socket = self.base / "mysqld.sock"
        self.port = 0
        self.version = ""
        self.process: ServerProcess | None = None

    def start(self) -> None:
        """Create the data directory (first time) and start ``mariadbd``."""
        server, install = find_mariadbd()
        # A private temp dir: concurrent installs in a shared /tmp collide on temp tables.
        tmpdir = self.base / "tmp"
        tmpdir.mkdir(exist_ok=True)
        if not self.datadir.exists():
            run_as([install, "--no-defaults", f"--datadir={self.datadir}", "--user=root",
                     "--auth-root-authentication-method=normal", "--skip-test-db",
                     f"--tmpdir={tmpdir}"],
                    None, run_id=self.run.run_id, what="mariadb-install-db",
                    log=self.base / "install.log",
                    env={"TMPDIR": str(tmpdir)})
        self.port = free_port()
        argv = [server, "--no-defaults", f"--datadir={self.datadir}", f"--port={self.port}",
                "--bind-address=127.0.0.1", f"--socket={self.socket}", "--user=root",
                f"--pid-file={self.base / 'mysqld.pid'}", "--skip-name-resolve",
                "--innodb-buffer-pool-size=128M", "--innodb-flush-log-at-trx-commit=2",
                f"--log-error={self.base / 'error.log'}", "--max-allowed-packet=256M",
                f"--tmpdir={tmpdir}"]
        self.process = ServerProcess(name=f"MariaDB ({self.name})", argv=argv,
                                     run_id=self.run.run_id, log_path=self.base / "server.log",
                                     stop_timeout=self.stop_timeout)
        self.process.start()

    def _transient(self) -> tuple[type[BaseException], ...]:
        import pymysql

        return (OSError, pymysql.err.OperationalError)

    def _ready(self) -> bool:
        import pymysql

        conn = pymysql.connect(unix_socket=str(self.socket), user="root", connect_timeout=2,
                               autocommit=True)
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT VERSION()")
                self.version = str(cur.fetchone()[0])
                # A password-protected TCP account, like a real warehouse's.
                cur.execute("CREATE USER IF NOT EXISTS 'drill'@'127.0.0.1' IDENTIFIED BY %s",
                            (self.password,))
                cur.execute("GRANT ALL PRIVILEGES ON *.* TO 'drill'@'127.0.0.1' WITH GRANT OPTION")
        finally:
            conn.close()
        return True

    def wait_ready(self, timeout: float) -> float:
        """Wait for the socket, then create the TCP account the endpoint uses."""
        try:
            return super().wait_ready(timeout)
        except ServerStartError as exc:
            exc.detail = (exc.detail or "") + "\n-- error.log --\n" + tail(self.base / "error.log")
            raise

    @property
    def endpoint(self) -> WarehouseEndpoint:
        """How to reach the server over TCP."""
        return WarehouseEndpoint(host="127.0.0.1", port=self.port, user="drill",
                                 password=self.password, kind="mariadb", version=self.version)
