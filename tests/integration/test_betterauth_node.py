"""The real better-auth (npm, pinned in harness/tools/betterauth) against the harness.

* Password hashes made by better-auth's ``hashPassword`` verify with
  :mod:`harness.crypto.betterauth`, and the other way round (including NFKC normalisation).
* better-auth's own migrator creates its schema in a throwaway PostgreSQL, a user signed up by
  better-auth can sign in over HTTP against that database, and wrong passwords are refused.

The PostgreSQL server is started by this module itself (Debian's PostgreSQL 15 binaries, run as
the ``postgres`` OS user when the tests run as root) and stopped in teardown.
"""

from __future__ import annotations

import http.client
import http.cookies
import importlib
import json
import os
import pwd
import re
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import psycopg
import pytest

from harness.tools import betterauth_node as ba

pytestmark = pytest.mark.integration

PG_BIN = Path("/usr/lib/postgresql/15/bin")
HASH_RE = re.compile(r"^[0-9a-f]{32}:[0-9a-f]{128}$")
COOKIE = "better-auth.session_token"

# Fullwidth letters and a circled digit are NFKC-equivalent to plain ASCII; "é" composed
# (U+00E9) and decomposed (e + U+0301) are NFKC-equal too.
NFKC_PAIRS = [
    ("ｐａｓｓｗｏｒｄ①", "password1"),
    ("caf\u00e9-s\u00e9same", "cafe\u0301-se\u0301same"),
]
PASSWORDS = ["correct horse battery staple", "", "p@ss:with:colons", "ünïcødé ✓ 密码"]


def py_betterauth() -> ModuleType:
    """The harness's own implementation; the test fails (not skips) when it is missing."""
    return importlib.import_module("harness.crypto.betterauth")


# --------------------------------------------------------------------------- hashing


def test_node_hashes_verify_in_python() -> None:
    py = py_betterauth()
    hashes = ba.hash_passwords(PASSWORDS)
    assert len(hashes) == len(PASSWORDS)
    for password, stored in zip(PASSWORDS, hashes, strict=True):
        assert HASH_RE.match(stored), stored
        assert py.verify_password(stored, password) is True
        assert py.verify_password(stored, password + "x") is False
    # Fresh random salt for every hash.
    assert len({h.split(":")[0] for h in hashes}) == len(hashes)


def test_python_hashes_verify_in_node() -> None:
    py = py_betterauth()
    hashes = [py.hash_password(p) for p in PASSWORDS]
    for stored in hashes:
        assert HASH_RE.match(stored), stored
    right = ba.verify_passwords(list(zip(hashes, PASSWORDS, strict=True)))
    wrong = ba.verify_passwords([(h, p + "!") for h, p in zip(hashes, PASSWORDS, strict=True)])
    assert right == [True] * len(PASSWORDS)
    assert wrong == [False] * len(PASSWORDS)


def test_same_salt_gives_identical_hash() -> None:
    """With better-auth's salt, Python must produce better-auth's stored string exactly."""
    py = py_betterauth()
    passwords = ["same salt, same key", "ü", ""]
    for password, node_hash in zip(passwords, ba.hash_passwords(passwords), strict=True):
        salt = node_hash.split(":")[0]
        assert py.hash_password(password, salt_hex=salt) == node_hash


def test_wrong_password_is_refused_both_ways() -> None:
    py = py_betterauth()
    (node_hash,) = ba.hash_passwords(["the right one"])
    assert py.verify_password(node_hash, "the wrong one") is False
    assert py.verify_password(node_hash, "The right one") is False
    py_hash = py.hash_password("the right one")
    assert ba.verify_passwords([(py_hash, "the wrong one"), (py_hash, "the right one ")]) == [
        False,
        False,
    ]


def test_nfkc_normalisation_matches() -> None:
    py = py_betterauth()
    node_hashes = ba.hash_passwords([a for a, _ in NFKC_PAIRS])
    for (fancy, plain), node_hash in zip(NFKC_PAIRS, node_hashes, strict=True):
        # Node made it from the unnormalised form; Python verifies it with the NFKC form.
        assert py.verify_password(node_hash, plain) is True
        assert py.verify_password(node_hash, fancy) is True
        py_hash = py.hash_password(plain)
        assert ba.verify_passwords([(py_hash, fancy), (py_hash, plain)]) == [True, True]
        # Same salt: the keys must be identical whichever form was hashed.
        salt = node_hash.split(":")[0]
        assert py.hash_password(plain, salt_hex=salt) == node_hash
    # NFKC is not case folding.
    (h,) = ba.hash_passwords(["ｐａｓｓ"])
    assert py.verify_password(h, "PASS") is False


def test_malformed_hash_is_an_error_not_false() -> None:
    with pytest.raises(ba.BetterAuthToolError) as info:
        ba.verify_passwords([("not-a-hash", "secret-pw")])
    assert info.value.code == "bad_hash"
    assert "secret-pw" not in str(info.value)


# --------------------------------------------------------------------------- PostgreSQL


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


@pytest.fixture(scope="module")
def pg_url() -> Iterator[str]:
    """A throwaway PostgreSQL 15 on 127.0.0.1, trust auth, stopped and removed in teardown."""
    for tool in ("initdb", "pg_ctl", "postgres"):
        if not (PG_BIN / tool).exists():
            pytest.fail(f"{PG_BIN / tool} is missing: install Debian's postgresql-15 package")
    as_root = os.geteuid() == 0
    prefix: list[str] = []
    # The data directory must be reachable by the postgres user: /tmp, not pytest's 0700 tree.
    root = Path(tempfile.mkdtemp(prefix="scrydon-ba-pg-", dir="/tmp" if as_root else None))
    if as_root:
        pg_user = pwd.getpwnam("postgres")
        os.chown(root, pg_user.pw_uid, pg_user.pw_gid)
        prefix = ["runuser", "-u", "postgres", "--"]
    data, logfile = root / "data", root / "postgres.log"
    started = False
    try:
        subprocess.run(
            [*prefix, str(PG_BIN / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust",
             "-E", "UTF8", "--locale=C", "--no-sync"],
            check=True, capture_output=True, timeout=120,
        )
        port = _free_port()
        opts = (f"-c listen_addresses=127.0.0.1 -p {port} -c unix_socket_directories={root} "
                "-c fsync=off -c full_page_writes=off")
        proc = subprocess.run(
            [*prefix, str(PG_BIN / "pg_ctl"), "-D", str(data), "-l", str(logfile), "-o", opts,
             "-w", "-t", "60", "start"],
            capture_output=True, text=True, timeout=90,
        )
        started = True  # even a failed start may have left a postmaster behind
        if proc.returncode != 0:
            pytest.fail(f"PostgreSQL did not start: {proc.stderr}\n{_tail(logfile)}")
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        if started:
            stop = subprocess.run(
                [*prefix, str(PG_BIN / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "-t",
                 "30", "stop"],
                capture_output=True, text=True, timeout=60,
            )
            if stop.returncode != 0 and (data / "postmaster.pid").exists():
                subprocess.run(
                    [*prefix, str(PG_BIN / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w",
                     "stop"],
                    capture_output=True, timeout=60,
                )
        shutil.rmtree(root, ignore_errors=True)


def _create_db(admin_url: str) -> str:
    name = f"auth_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return admin_url.rsplit("/", 1)[0] + f"/{name}"


@pytest.fixture(scope="module")
def auth_db(pg_url: str) -> dict[str, Any]:
    """A database migrated by better-auth with one user signed up by better-auth."""
    url = _create_db(pg_url)
    result = ba.migrate(url)
    email = f"drill-{uuid.uuid4().hex[:8]}@example.test"
    password = "Dr1ll-" + secrets.token_urlsafe(12)
    user = ba.signup(url, email, password, "Drill User")
    return {"url": url, "migration": result, "email": email, "password": password,
            "user": user}


EXPECTED_TABLES = {"user", "session", "account", "verification", "organization", "member",
                   "invitation"}


def _columns(url: str) -> dict[str, list[tuple[str, str, str]]]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT table_name, column_name, data_type, is_nullable FROM information_schema.columns"
            " WHERE table_schema = 'public' ORDER BY table_name, ordinal_position"
        ).fetchall()
    out: dict[str, list[tuple[str, str, str]]] = {}
    for table, column, dtype, nullable in rows:
        out.setdefault(table, []).append((column, dtype, nullable))
    return out


def test_migrate_creates_better_auth_schema(auth_db: dict[str, Any]) -> None:
    url = auth_db["url"]
    assert set(auth_db["migration"].created) == EXPECTED_TABLES
    cols = _columns(url)
    assert EXPECTED_TABLES <= set(cols)
    user_cols = {c for c, _, _ in cols["user"]}
    assert {"id", "name", "email", "emailVerified", "image", "createdAt", "updatedAt"} <= user_cols
    assert {"role", "banned", "banReason", "banExpires"} <= user_cols  # admin plugin
    assert "activeOrganizationId" in {c for c, _, _ in cols["session"]}  # organization plugin
    account_cols = {c for c, _, _ in cols["account"]}
    assert {"accountId", "providerId", "userId", "password"} <= account_cols
    for table in sorted(EXPECTED_TABLES):
        print(f"{table}: " + ", ".join(f"{c} {t} {'NULL' if n == 'YES' else 'NOT NULL'}"
                                       for c, t, n in cols[table]))
    # Idempotent: a second run has nothing to do.
    again = ba.migrate(url)
    assert again.created == () and dict(again.added) == {}


def test_signup_makes_credential_account(auth_db: dict[str, Any]) -> None:
    py = py_betterauth()
    user = auth_db["user"]
    assert user["email"] == auth_db["email"]
    assert user["role"] == "user" and user["banned"] is False
    with psycopg.connect(auth_db["url"]) as conn:
        row = conn.execute(
            'SELECT "accountId", "providerId", password FROM account WHERE "userId" = %s',
            (user["id"],),
        ).fetchone()
    assert row is not None
    account_id, provider_id, stored = row
    assert provider_id == "credential" and account_id == user["id"]
    assert HASH_RE.match(stored)
    assert py.verify_password(stored, auth_db["password"]) is True
    assert py.verify_password(stored, auth_db["password"] + "x") is False


def test_duplicate_signup_is_refused(auth_db: dict[str, Any]) -> None:
    with pytest.raises(ba.BetterAuthToolError) as info:
        ba.signup(auth_db["url"], auth_db["email"], "another-password-1", "Dup")
    assert info.value.code == "USER_ALREADY_EXISTS_USE_ANOTHER_EMAIL"
    assert "another-password-1" not in str(info.value)


# --------------------------------------------------------------------------- live HTTP


def _post_json(
    url: str, body: dict[str, Any]
) -> tuple[int, dict[str, Any], http.client.HTTPMessage]:
    req = urllib.request.Request(
        url, data=json.dumps(body).encode(), method="POST",
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, json.loads(resp.read() or b"null"), resp.headers
    except urllib.error.HTTPError as err:
        with err:
            return err.code, json.loads(err.read() or b"null"), err.headers


def _get_json(url: str, cookie: str | None = None) -> tuple[int, Any]:
    headers = {"Cookie": cookie} if cookie else {}
    req = urllib.request.Request(url, headers=headers)
    with urllib.request.urlopen(req, timeout=30) as resp:
        return resp.status, json.loads(resp.read() or b"null")


def test_live_sign_in(auth_db: dict[str, Any]) -> None:
    secret = secrets.token_hex(32)
    with ba.serve(auth_db["url"], secret=secret) as server:
        assert server.base_url == f"http://127.0.0.1:{server.port}"

        status, body, headers = _post_json(
            server.url("/sign-in/email"),
            {"email": auth_db["email"], "password": auth_db["password"]},
        )
        assert status == 200, body
        assert body["token"] and body["user"]["email"] == auth_db["email"]
        assert body["user"]["id"] == auth_db["user"]["id"]
        jar = http.cookies.SimpleCookie()
        for value in headers.get_all("Set-Cookie") or []:
            jar.load(value)
        assert COOKIE in jar, headers.get_all("Set-Cookie")
        # The cookie is "<token>.<signature>"; the token is the session token.
        assert jar[COOKIE].value.startswith(body["token"] + ".")
        cookie = f"{COOKIE}={jar[COOKIE].coded_value}"

        status, session = _get_json(server.url("/get-session"), cookie)
        assert status == 200
        assert session["user"]["email"] == auth_db["email"]
        assert session["session"]["token"] == body["token"]
        assert session["session"]["userId"] == auth_db["user"]["id"]

        status, session = _get_json(server.url("/get-session"))
        assert status == 200 and session is None

        for email, password in [
            (auth_db["email"], auth_db["password"] + "-wrong"),
            ("nobody@example.test", auth_db["password"]),
        ]:
            status, body, headers = _post_json(
                server.url("/sign-in/email"), {"email": email, "password": password}
            )
            assert status == 401, body
            assert body["code"] == "INVALID_EMAIL_OR_PASSWORD"
            assert not headers.get_all("Set-Cookie")

        tail = server.stderr_tail()
        assert auth_db["password"] not in tail and secret not in tail

    with psycopg.connect(auth_db["url"]) as conn:
        (n,) = conn.execute(
            'SELECT count(*) FROM session WHERE "userId" = %s', (auth_db["user"]["id"],)
        ).fetchone()
    assert n >= 1


def _gone(pid: int, within: float = 10.0) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.05)
    return False


def test_server_is_stopped_when_the_body_raises(auth_db: dict[str, Any]) -> None:
    with pytest.raises(RuntimeError, match="boom"):
        with ba.serve(auth_db["url"]) as server:
            pid = server.pid
            assert server.alive()
            raise RuntimeError("boom")
    assert _gone(pid)
    assert not server.alive()


def test_server_start_failure_reports_stderr_without_secrets() -> None:
    dead_port = _free_port()  # nothing listens there
    url = f"postgresql://drill:hunter2-db-pass@127.0.0.1:{dead_port}/auth"
    secret = "s3cret-" + secrets.token_hex(8)
    started = time.monotonic()
    with pytest.raises(ba.BetterAuthServerError) as info:
        with ba.serve(url, secret=secret, ready_timeout=30):
            pytest.fail("server must not become ready without a database")
    assert time.monotonic() - started < 25  # died and was noticed before the deadline
    text = str(info.value)
    assert "exited with code" in text and "database_unreachable" in text
    assert "hunter2-db-pass" not in text and secret not in text


def test_wrapper_pin_matches_package_json() -> None:
    pins = json.loads((ba.node_tool_dir() / "package.json").read_text())["dependencies"]
    assert pins["better-auth"] == ba.BETTER_AUTH_VERSION
    assert all(re.fullmatch(r"\d+\.\d+\.\d+", v) for v in pins.values()), pins  # exact pins
    ba.ensure_installed()  # a no-op once node_modules matches the pins
