"""Drive the real better-auth npm package (pinned in ``harness/tools/betterauth``) from Python.

The Node side is ``harness/tools/betterauth/tool.mjs``; this module is its typed wrapper. It is used

* to cross-check the harness's own better-auth password hashing
  (:mod:`harness.crypto.betterauth`) against better-auth's ``hashPassword``/``verifyPassword``;
* to create better-auth's real schema (core tables plus the ``admin`` and ``organization``
  plugins) in a PostgreSQL database with better-auth's own migrator;
* to serve a live better-auth HTTP endpoint bound to a (restored) auth database, so that a drill
  can sign in for real over ``POST /api/auth/sign-in/email``.

Database URLs and secrets are handed to the Node process through its environment, never on its
command line (which other users of the machine can read), and never appear in log lines or error
messages. Passwords are only ever written to the tool's standard input.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import functools
import json
import logging
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import urllib.parse
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from harness.errors import DrillError, ServerStartError
from harness.records import OWNER_ENV
from harness.tools.wait import Died, WaitTimeout, wait_until

__all__ = [
    "BETTER_AUTH_VERSION",
    "BetterAuthServer",
    "BetterAuthToolError",
    "MigrationResult",
    "NodeToolMissing",
    "ensure_installed",
    "hash_passwords",
    "migrate",
    "node_tool_dir",
    "serve",
    "signup",
    "verify_passwords",
]

log = logging.getLogger(__name__)

#: The better-auth version pinned in ``harness/tools/betterauth/package.json``.
BETTER_AUTH_VERSION = "1.7.25"
MIN_NODE_MAJOR = 20

_STORE = "betterauth"
_ENV_DB_URL = "SCRYDON_BA_DATABASE_URL"
_ENV_SECRET = "SCRYDON_BA_SECRET"
_NPM_CI = ("npm", "ci", "--no-audit", "--no-fund")
_DEFAULT_TIMEOUT = 120.0
_STOP_GRACE = 5.0
_STDERR_TAIL_LINES = 40


class BetterAuthToolError(DrillError):
    """The better-auth Node tool failed, or could not be installed or run.

    ``code`` is the machine-readable error code the tool reported (for example
    ``USER_ALREADY_EXISTS_USE_ANOTHER_EMAIL``, ``bad_hash``, ``database_unreachable``), or a
    code chosen by this wrapper (``timeout``, ``bad_output``, ``npm_ci_failed``).
    """

    def __init__(self, message: str, *, code: str = "error", **kwargs: str | None) -> None:
        kwargs.setdefault("store", _STORE)
        self.code = code
        super().__init__(message, **kwargs)  # type: ignore[arg-type]


class NodeToolMissing(BetterAuthToolError):
    """``node`` or ``npm`` is not installed (or too old) on this machine."""


class BetterAuthServerError(ServerStartError):
    """The better-auth server died or did not become ready before its deadline."""


@dataclasses.dataclass(frozen=True)
class MigrationResult:
    """What better-auth's migrator changed: tables created and columns added per table."""

    created: tuple[str, ...]
    added: Mapping[str, tuple[str, ...]]


@dataclasses.dataclass
class BetterAuthServer:
    """A running better-auth HTTP server started by :func:`serve`.

    ``base_url`` is ``http://127.0.0.1:<port>``; better-auth's routes live under
    ``base_url + "/api/auth"`` (see :meth:`url`).
    """

    base_url: str
    port: int
    pid: int
    _process: subprocess.Popen[bytes] = dataclasses.field(repr=False)
    _stderr_path: Path = dataclasses.field(repr=False)
    _redact: tuple[str, ...] = dataclasses.field(repr=False, default=())

    def url(self, path: str) -> str:
        """Return the absolute URL of a better-auth route, e.g. ``url("/sign-in/email")``."""
        return f"{self.base_url}/api/auth/{path.lstrip('/')}"

    def alive(self) -> bool:
        """Return whether the server process is still running."""
        return self._process.poll() is None

    def stderr_tail(self, lines: int = _STDERR_TAIL_LINES) -> str:
        """Return the last ``lines`` lines the server wrote to stderr (secrets redacted)."""
        return _redact(_tail(self._stderr_path, lines), self._redact)


# --------------------------------------------------------------------------- installation


def node_tool_dir() -> Path:
    """Return the directory holding ``package.json``, ``package-lock.json`` and ``tool.mjs``."""
    return Path(__file__).resolve().parent / "betterauth"


def _which(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise NodeToolMissing(
            f"`{name}` is not on PATH; the better-auth tool needs Node.js "
            f"{MIN_NODE_MAJOR}+ and npm",
            code=f"{name}_missing",
            path=str(node_tool_dir()),
            remedy=(
                f"install Node.js {MIN_NODE_MAJOR}+ with npm (e.g. `apt-get install nodejs npm`), "
                f"then run `cd {node_tool_dir()} && {' '.join(_NPM_CI)}`"
            ),
        )
    return path


def _node() -> str:
    node = _which("node")
    try:
        out = subprocess.run(
            [node, "--version"], capture_output=True, text=True, timeout=30, check=True
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError) as exc:
        raise NodeToolMissing(
            f"`{node} --version` failed: {exc}", code="node_broken",
            remedy=f"reinstall Node.js {MIN_NODE_MAJOR}+",
        ) from exc
    m = re.match(r"v(\d+)\.", out)
    if not m or int(m.group(1)) < MIN_NODE_MAJOR:
        raise NodeToolMissing(
            f"Node.js {out or '(unknown version)'} is too old; better-auth "
            f"{BETTER_AUTH_VERSION} needs Node.js {MIN_NODE_MAJOR}+",
            code="node_too_old", remedy=f"install Node.js {MIN_NODE_MAJOR}+",
        )
    return node


def _installed_version(tool_dir: Path, package: str = "better-auth") -> str | None:
    try:
        data = json.loads((tool_dir / "node_modules" / package / "package.json").read_text())
    except (OSError, ValueError):
        return None
    version = data.get("version")
    return version if isinstance(version, str) else None


def _pins(tool_dir: Path) -> dict[str, str]:
    data = json.loads((tool_dir / "package.json").read_text())
    return {str(k): str(v) for k, v in data["dependencies"].items()}


def _mismatches(tool_dir: Path) -> list[str]:
    """Direct dependencies whose installed version differs from the exact pin."""
    return [
        f"{name} {_installed_version(tool_dir, name) or 'missing'} (pinned {pin})"
        for name, pin in _pins(tool_dir).items()
        if _installed_version(tool_dir, name) != pin
    ]


@contextlib.contextmanager
def _install_lock(tool_dir: Path) -> Iterator[None]:
    # Parallel test workers must not run `npm ci` into the same directory at once.
    # The lock sits beside the folder it guards, so every process finds the same one.
    lock_path = tool_dir.with_name(tool_dir.name + ".install.lock")
    with open(lock_path, "a+b") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def ensure_installed() -> None:
    """Make sure the pinned Node dependencies are installed next to ``tool.mjs``.

    Runs ``npm ci --no-audit --no-fund`` in :func:`node_tool_dir` when ``node_modules`` is
    missing or a direct dependency (better-auth, pg) differs from its exact pin in
    ``package.json``. Raises
    :class:`NodeToolMissing` (naming the command and the remedy) when ``node``/``npm`` are absent,
    and :class:`BetterAuthToolError` when ``npm ci`` fails.
    """
    tool_dir = node_tool_dir()
    _node()
    if not _mismatches(tool_dir):
        return
    npm = _which("npm")
    with _install_lock(tool_dir):
        if not _mismatches(tool_dir):
            return
        cmd = [npm, *_NPM_CI[1:]]
        log.info("installing the better-auth tool's pinned dependencies: %s (in %s)",
                 " ".join(_NPM_CI), tool_dir)
        try:
            proc = subprocess.run(
                cmd, cwd=tool_dir, capture_output=True, text=True, timeout=600, check=False
            )
        except subprocess.TimeoutExpired as exc:
            raise BetterAuthToolError(
                f"`{' '.join(_NPM_CI)}` did not finish within 600 s", code="npm_ci_timeout",
                path=str(tool_dir), remedy="check that the npm registry is reachable",
            ) from exc
        if proc.returncode != 0:
            raise BetterAuthToolError(
                f"`{' '.join(_NPM_CI)}` failed with exit code {proc.returncode}",
                code="npm_ci_failed", path=str(tool_dir),
                remedy=(
                    "check that the npm registry is reachable and that package-lock.json matches "
                    f"package.json; run `cd {tool_dir} && {' '.join(_NPM_CI)}` by hand"
                ),
                detail=_tail_text(proc.stderr, _STDERR_TAIL_LINES),
            )
    wrong = _mismatches(tool_dir)
    if wrong:
        raise BetterAuthToolError(
            f"after `{' '.join(_NPM_CI)}` installed versions differ: {', '.join(wrong)}",
            code="npm_ci_mismatch", path=str(tool_dir),
            remedy="regenerate package-lock.json with `npm install` and commit it",
        )


# --------------------------------------------------------------------------- one-shot commands


def _child_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    # Nothing from the caller's environment may reconfigure better-auth behind our back
    # (BETTER_AUTH_URL, BETTER_AUTH_SECRET, BETTER_AUTH_TELEMETRY, ...).
    env = {k: v for k, v in os.environ.items() if not k.startswith("BETTER_AUTH_")}
    env.pop(_ENV_DB_URL, None)
    env.pop(_ENV_SECRET, None)
    env["BETTER_AUTH_TELEMETRY"] = "0"
    if extra:
        env.update(extra)
    return env


def _tool_error(
    command: str, returncode: int, stderr: str, redact: Sequence[str]
) -> BetterAuthToolError:
    stderr = _redact(stderr, redact)
    code, message = "error", f"exited with code {returncode}"
    for line in reversed(stderr.strip().splitlines()):
        try:
            obj = json.loads(line)
        except ValueError:
            continue
        if isinstance(obj, dict) and "error" in obj:
            code = str(obj.get("error"))
            message = str(obj.get("message", message))
            break
    return BetterAuthToolError(
        f"better-auth tool `{command}` failed: {message}",
        code=code, path=str(node_tool_dir() / "tool.mjs"),
        detail=_tail_text(stderr, _STDERR_TAIL_LINES),
    )


def _run(
    command: str,
    payload: Any | None = None,
    *,
    env: Mapping[str, str] | None = None,
    redact: Sequence[str] = (),
    timeout: float = _DEFAULT_TIMEOUT,
) -> Any:
    ensure_installed()
    node = _node()
    tool = node_tool_dir() / "tool.mjs"
    stdin = json.dumps(payload) if payload is not None else ""
    try:
        proc = subprocess.run(
            [node, str(tool), command],
            input=stdin, capture_output=True, text=True, encoding="utf-8",
            cwd=node_tool_dir(), env=_child_env(env), timeout=timeout, check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise BetterAuthToolError(
            f"better-auth tool `{command}` did not finish within {timeout:g} s",
            code="timeout", path=str(tool),
        ) from exc
    if proc.returncode != 0:
        raise _tool_error(command, proc.returncode, proc.stderr, redact)
    try:
        return json.loads(proc.stdout)
    except ValueError as exc:
        raise BetterAuthToolError(
            f"better-auth tool `{command}` printed no JSON result", code="bad_output",
            path=str(tool), detail=_redact(_tail_text(proc.stdout, 10), redact),
        ) from exc


def hash_passwords(passwords: Sequence[str], *, timeout: float = _DEFAULT_TIMEOUT) -> list[str]:
    """Hash each password with better-auth's own ``hashPassword`` (random salt each).

    Returns the stored form ``"<32 hex salt>:<128 hex key>"``, in input order.
    """
    result = _run("hash", {"passwords": list(passwords)}, timeout=timeout)
    hashes = result.get("hashes")
    if not isinstance(hashes, list) or len(hashes) != len(passwords):
        raise BetterAuthToolError("`hash` returned a malformed result", code="bad_output")
    return [str(h) for h in hashes]


def verify_passwords(
    pairs: Sequence[tuple[str, str]], *, timeout: float = _DEFAULT_TIMEOUT
) -> list[bool]:
    """Check ``(stored_hash, password)`` pairs with better-auth's own ``verifyPassword``.

    Returns one boolean per pair, in input order. A stored hash that is not of the form
    ``salt:key`` makes better-auth throw; that raises :class:`BetterAuthToolError` with code
    ``bad_hash`` naming the pair's index.
    """
    payload = {"pairs": [{"hash": h, "password": p} for h, p in pairs]}
    result = _run("verify", payload, timeout=timeout)
    results = result.get("results")
    if not isinstance(results, list) or len(results) != len(pairs) or not all(
        isinstance(r, bool) for r in results
    ):
        raise BetterAuthToolError("`verify` returned a malformed result", code="bad_output")
    return list(results)


def migrate(database_url: str, *, timeout: float = _DEFAULT_TIMEOUT) -> MigrationResult:
    """Create or update better-auth's schema in ``database_url`` with better-auth's migrator.

    Uses the same configuration as :func:`serve` (email and password sign-in, ``admin`` and
    ``organization`` plugins). Idempotent: a second run creates and adds nothing.
    """
    result = _run(
        "migrate",
        env={_ENV_DB_URL: database_url},
        redact=(database_url, _url_password(database_url)),
        timeout=timeout,
    )
    added = {
        str(item["table"]): tuple(str(f) for f in item.get("fields", ()))
        for item in result.get("added", ())
    }
    return MigrationResult(created=tuple(str(t) for t in result.get("created", ())), added=added)


def signup(
    database_url: str, email: str, password: str, name: str, *, timeout: float = _DEFAULT_TIMEOUT
) -> dict[str, Any]:
    """Create a user with better-auth's ``auth.api.signUpEmail`` and return the user record.

    The account row (``providerId = 'credential'``) and its password hash are made by
    better-auth itself. Raises :class:`BetterAuthToolError` with better-auth's error code (e.g.
    ``USER_ALREADY_EXISTS_USE_ANOTHER_EMAIL``) when sign-up is refused.
    """
    result = _run(
        "signup", {"email": email, "password": password, "name": name},
        env={_ENV_DB_URL: database_url},
        redact=(database_url, _url_password(database_url), password),
        timeout=timeout,
    )
    user = result.get("user")
    if not isinstance(user, dict):
        raise BetterAuthToolError("`signup` returned no user", code="bad_output")
    return user


# --------------------------------------------------------------------------- live server


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _stop(proc: subprocess.Popen[bytes], grace: float = _STOP_GRACE) -> None:
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        log.warning(
            "better-auth server pid %d ignored SIGTERM for %g s; killing it", proc.pid, grace
        )
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        proc.wait(timeout=grace)


def _read_ready(stdout_path: Path) -> dict[str, Any] | None:
    try:
        text = stdout_path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    for line in text.splitlines():
        try:
            obj = json.loads(line)
        except ValueError:
            continue
        if isinstance(obj, dict) and obj.get("ready") is True:
            return obj
    return None


@contextlib.contextmanager
def serve(
    database_url: str,
    port: int | None = None,
    secret: str | None = None,
    *,
    ready_timeout: float = 30.0,
    stop_grace: float = _STOP_GRACE,
    owner: str | None = None,
) -> Iterator[BetterAuthServer]:
    """Serve better-auth on ``127.0.0.1`` against ``database_url`` for the ``with`` block.

    ``port=None`` picks a free port (retrying if another process grabs it first). ``secret`` is
    better-auth's signing secret; ``None`` draws a random one for this server (sessions then do
    not outlive it). The server uses the same configuration as :func:`migrate`, with
    ``baseURL`` ``http://127.0.0.1:<port>``.

    The server must print its ready line within ``ready_timeout`` seconds; if it exits first or
    the deadline passes, :class:`BetterAuthServerError` is raised with the tail of its stderr.
    On leaving the block (also when the body raises) the server gets SIGTERM, then SIGKILL
    after ``stop_grace`` seconds. ``owner`` is the drill run's id: the server carries it in
    its environment (``SCRYDON_DRILL_OWNER``), so the sweep finds it after a killed run.
    """
    import secrets as _secrets

    ensure_installed()
    node = _node()
    tool = node_tool_dir() / "tool.mjs"
    if secret is None:
        secret = _secrets.token_urlsafe(32)
    redact = (database_url, _url_password(database_url), secret)
    attempts = 3 if port is None else 1

    with tempfile.TemporaryDirectory(prefix="scrydon-betterauth-") as tmp:
        for attempt in range(1, attempts + 1):
            chosen = port if port is not None else _free_port()
            stdout_path = Path(tmp) / f"stdout-{attempt}.log"
            stderr_path = Path(tmp) / f"stderr-{attempt}.log"
            with open(stdout_path, "wb") as out, open(stderr_path, "wb") as err:
                proc = subprocess.Popen(
                    [node, str(tool), "serve", "--port", str(chosen)],
                    stdin=subprocess.DEVNULL, stdout=out, stderr=err, cwd=node_tool_dir(),
                    env=_child_env({_ENV_DB_URL: database_url, _ENV_SECRET: secret,
                                    **({OWNER_ENV: owner} if owner else {})}),
                    start_new_session=True,
                )
            server = BetterAuthServer(
                base_url=f"http://127.0.0.1:{chosen}", port=chosen, pid=proc.pid,
                _process=proc, _stderr_path=stderr_path, _redact=redact,
            )
            try:
                ready = None
                try:
                    ready = wait_until(functools.partial(_read_ready, stdout_path),
                                       timeout=ready_timeout,
                                       alive=functools.partial(_running, proc))
                except (Died, WaitTimeout):
                    # One more look: it may have printed "ready" and died right after.
                    ready = _read_ready(stdout_path)
                if ready is not None and proc.poll() is None:
                    break  # started
                exited = proc.poll()
                tail = server.stderr_tail()
                if exited is not None and attempt < attempts and "listen_failed" in tail:
                    log.info("port %d was taken before the server bound it; retrying", chosen)
                    continue
                if exited is not None:
                    msg = f"better-auth server exited with code {exited} before it was ready"
                else:
                    msg = f"better-auth server was not ready within {ready_timeout:g} s"
                raise BetterAuthServerError(
                    msg, store=_STORE, path=str(tool),
                    remedy="read the server's stderr below; check the database URL and that "
                    "`migrate` has run against it",
                    detail=tail or "(no stderr output)",
                )
            except BaseException:
                _stop(proc, stop_grace)
                raise

        log.info(
            "better-auth %s serving on %s (pid %d)", BETTER_AUTH_VERSION, server.base_url, proc.pid
        )
        try:
            yield server
        finally:
            _stop(proc, stop_grace)


# --------------------------------------------------------------------------- helpers


def _running(proc: subprocess.Popen[bytes]) -> bool:
    return proc.poll() is None


def _tail(path: Path, lines: int) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    return _tail_text(text, lines)


def _tail_text(text: str, lines: int) -> str:
    return "\n".join(text.rstrip().splitlines()[-lines:])


def _url_password(url: str) -> str:
    try:
        return urllib.parse.urlsplit(url).password or ""
    except ValueError:
        return ""


def _redact(text: str, secrets: Sequence[str]) -> str:
    # Longest first, so a URL is replaced whole before the password inside it; values shorter
    # than 4 characters would only mangle unrelated text.
    for value in sorted(secrets, key=len, reverse=True):
        if len(value) >= 4:
            text = text.replace(value, "***")
    return text
