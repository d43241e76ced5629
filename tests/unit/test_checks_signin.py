"""signin.*: the offline check on real better-auth hashes, the HTTP conversation against a
small stand-in server (the real better-auth runs in the integration tests)."""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from harness.checks.signin import (
    AdminCredentials,
    AdminRow,
    admin_credentials,
    check_admin_offline,
    check_deployed_signin,
    check_http_signin,
)
from harness.config import resolve
from harness.crypto.betterauth import hash_password
from harness.errors import CouldNotVerify
from harness.profile import load_profile

NOW = dt.datetime(2026, 11, 24, 12, tzinfo=dt.timezone.utc)
PASSWORD = "s3cret-Pässword-for-tests"
CREDS = AdminCredentials("admin@example.test", PASSWORD)
HASH = hash_password(PASSWORD, salt_hex="0" * 32)


def admin(**changes: Any) -> AdminRow:
    values: dict[str, Any] = {"id": "usr_1", "role": "admin", "banned": False,
                              "ban_expires": None, "password_hash": HASH}
    values.update(changes)
    return AdminRow(**values)


def test_credentials_come_from_the_config_or_environment() -> None:
    cfg = resolve(environ={"SCRYDON_DRILL_ADMIN_EMAIL": "a@b.c",
                           "SCRYDON_DRILL_ADMIN_PASSWORD": PASSWORD})
    creds = admin_credentials(cfg)
    assert creds.email == "a@b.c" and creds.password == PASSWORD and PASSWORD not in repr(creds)
    with pytest.raises(CouldNotVerify, match="admin.email and admin.password are not"):
        admin_credentials(resolve(environ={}))
    with pytest.raises(CouldNotVerify) as err:
        admin_credentials(resolve(environ={"SCRYDON_DRILL_ADMIN_EMAIL": "a@b.c"}))
    assert "admin.password is not configured" in str(err.value)
    assert "SCRYDON_DRILL_ADMIN_PASSWORD" in (err.value.remedy or "")


def test_offline_passes_for_the_right_password_role_and_no_ban() -> None:
    out = check_admin_offline([admin()], CREDS, admin_roles=["admin"], now=NOW)
    assert out.ok and out.measured["password_verified"] is True
    assert PASSWORD not in out.message and HASH not in out.message
    multi = check_admin_offline([admin(role="user,admin")], CREDS, admin_roles=["admin"], now=NOW)
    assert multi.ok
    expired = check_admin_offline([admin(banned=True, ban_expires=NOW - dt.timedelta(days=1))],
                                  CREDS, admin_roles=["admin"], now=NOW)
    assert expired.ok and "past ban has expired" in expired.message


@pytest.mark.parametrize(("row", "expected"), [
    (admin(password_hash=hash_password("another one")), "does not verify"),
    (admin(password_hash=None), "no credential account"),
    (admin(password_hash="$2b$10$abcdefghijklmnopqrstuv"), "bcrypt"),
    (admin(role="user"), "its role is 'user'"),
    (admin(banned=True), "banned (indefinitely)"),
    (admin(banned=True, ban_expires=NOW + dt.timedelta(days=3)), "banned (2026-11-27"),
])
def test_offline_fails_and_says_why(row: AdminRow, expected: str) -> None:
    out = check_admin_offline([row], CREDS, admin_roles=["admin"], now=NOW)
    assert not out.ok and expected in out.message and PASSWORD not in out.message


def test_offline_fails_without_exactly_one_admin() -> None:
    none = check_admin_offline([], CREDS, admin_roles=["admin"], now=NOW)
    assert not none.ok and "no user with the admin e-mail admin@example.test" in none.message
    two = check_admin_offline([admin(), admin(id="usr_2")], CREDS, admin_roles=["admin"], now=NOW)
    assert not two.ok and "2 users match" in two.message


# -- the HTTP conversation -----------------------------------------------------------------------


class FakeAuth(BaseHTTPRequestHandler):
    """Just enough of better-auth's sign-in and get-session; behaviour set per test."""

    accept_any = False
    set_cookie = True
    honour_session = True
    signin_status = 200
    role = "admin"

    def log_message(self, *args: Any) -> None:
        pass

    def reply(self, status: int, body: Any, cookie: str | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        if cookie:
            self.send_header("Set-Cookie", cookie)
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        if self.path != "/api/auth/sign-in/email":
            return self.reply(404, {"message": "not found"})
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if self.signin_status != 200:
            return self.reply(self.signin_status, {"code": "INTERNAL"})
        if body["password"] != PASSWORD and not self.accept_any:
            return self.reply(401, {"code": "INVALID_EMAIL_OR_PASSWORD"})
        cookie = "better-auth.session_token=tok.sig; Path=/; HttpOnly" if self.set_cookie else None
        self.reply(200, {"token": "tok", "user": {"email": body["email"], "role": self.role}},
                   cookie)

    def do_GET(self) -> None:  # noqa: N802
        if self.path != "/api/auth/get-session":
            return self.reply(404, {})
        ok = self.honour_session and "better-auth.session_token=tok.sig" in (
            self.headers.get("Cookie") or "")
        self.reply(200, {"session": {"id": "s"}, "user": {"email": CREDS.email,
                                                          "role": self.role}} if ok else None)


@pytest.fixture()
def server() -> Iterator[tuple[str, type[FakeAuth]]]:
    handler = type("Handler", (FakeAuth,), {})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", handler
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


def test_http_signin_passes_with_session_and_refused_wrong_password(server: Any) -> None:
    base, _ = server
    out = check_http_signin(f"{base}/api/auth", CREDS)
    assert out.ok, out.message
    assert out.measured["signin_status"] == 200 and out.measured["wrong_password_status"] == 401
    assert "role admin" in out.message and PASSWORD not in out.message


@pytest.mark.parametrize(("setting", "expected"), [
    ({"accept_any": True}, "it accepts a wrong password"),
    ({"set_cookie": False}, "set no session cookie"),
    ({"honour_session": False}, "get-session does not accept the session cookie"),
    ({"signin_status": 500}, "HTTP 500 (INTERNAL)"),
])
def test_http_signin_fails_and_says_why(server: Any, setting: dict[str, Any],
                                        expected: str) -> None:
    base, handler = server
    for k, v in setting.items():
        setattr(handler, k, v)
    out = check_http_signin(f"{base}/api/auth", CREDS)
    assert not out.ok and expected in out.message


def test_http_signin_of_a_non_admin_fails_naming_the_role(server: Any) -> None:
    base, handler = server
    handler.role = "member"
    out = check_http_signin(f"{base}/api/auth", CREDS)
    assert not out.ok and "is not an admin: its role is 'member'" in out.message
    assert out.measured["role"] == "member" and "admin.email" in (out.remedy or "")
    handler.role = "user,admin"
    assert check_http_signin(f"{base}/api/auth", CREDS).ok
    assert not check_http_signin(f"{base}/api/auth", CREDS, admin_roles=["owner"]).ok


def test_offline_role_mismatch_blames_the_role_not_the_password() -> None:
    out = check_admin_offline([admin(role="member")], CREDS, admin_roles=["admin"], now=NOW)
    assert not out.ok and "not an admin: its role is 'member'" in out.message
    assert "admin.password" not in (out.remedy or "") and "role" in (out.remedy or "")
    wrong = check_admin_offline([admin(role="member")], AdminCredentials(CREDS.email, "nope"),
                                admin_roles=["admin"], now=NOW)
    assert "admin.password" in (wrong.remedy or "")


def test_wrong_admin_password_is_a_failure_not_unverified(server: Any) -> None:
    base, _ = server
    out = check_http_signin(f"{base}/api/auth", AdminCredentials(CREDS.email, "nope"))
    assert not out.ok and "HTTP 401 (INVALID_EMAIL_OR_PASSWORD)" in out.message


def test_unreachable_or_wrong_endpoints_could_not_be_verified(server: Any) -> None:
    base, _ = server
    with pytest.raises(CouldNotVerify, match="no sign-in endpoint"):
        check_http_signin(f"{base}/elsewhere", CREDS)
    with pytest.raises(CouldNotVerify, match="cannot reach http://127.0.0.1:9"):
        check_http_signin("http://127.0.0.1:9/api/auth", CREDS, timeout=5)


def test_deployed_signin_uses_the_profile_api_base(server: Any) -> None:
    base, _ = server
    section = load_profile().signin
    assert check_deployed_signin(base + "/", CREDS, section).ok
    with pytest.raises(CouldNotVerify, match="not an http"):
        check_deployed_signin("ftp://scratch.example", CREDS, section)
    with pytest.raises(CouldNotVerify, match="not an http"):
        check_deployed_signin("scratch.example", CREDS, section)
