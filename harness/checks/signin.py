"""signin.*: the known admin can sign in to the restored platform.

* offline: the admin row exists, the configured password verifies against the restored
  better-auth scrypt hash, the role is admin and the account is not banned;
* live: the real better-auth (pinned npm package) serves the restored auth database and the
  admin signs in over HTTP, gets a session that ``get-session`` accepts, and a wrong password
  is refused;
* deployed: the same HTTP conversation with a deployed Scrydon (``drill.scratch_url``).

The admin password is never logged, put in a message or measured.
"""

from __future__ import annotations

import datetime as dt
import http.cookies
import json
import secrets
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from harness.checks.base import Outcome, query
from harness.crypto.betterauth import MalformedPasswordHash, verify_password
from harness.errors import could_not_verify

if TYPE_CHECKING:
    import psycopg

    from harness.config import DrillConfig
    from harness.profile import Signin

_CREDENTIALS_REMEDY = ("set admin.email and admin.password in the drill config, or "
                       "SCRYDON_DRILL_ADMIN_EMAIL and SCRYDON_DRILL_ADMIN_PASSWORD")


@dataclass(frozen=True)
class AdminCredentials:
    """The known admin's e-mail and password (the password never appears in a repr)."""

    email: str
    password: str = field(repr=False)


def admin_credentials(config: DrillConfig) -> AdminCredentials:
    """The configured admin credentials; could-not-verify when either is missing."""
    email, password = config.admin.email.strip(), config.admin.password
    missing = [name for name, value in (("admin.email", email), ("admin.password", password))
               if not value]
    if missing:
        could_not_verify(f"{' and '.join(missing)} {'is' if len(missing) == 1 else 'are'} not "
                         "configured, so the drill cannot sign in as the known admin",
                         remedy=_CREDENTIALS_REMEDY)
    return AdminCredentials(email=email, password=password)


# -- offline ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class AdminRow:
    """The admin as the restored auth database holds it."""

    id: str
    role: str | None
    banned: bool | None
    ban_expires: dt.datetime | None
    password_hash: str | None = field(repr=False)


def fetch_admin(conn: psycopg.Connection[Any], section: Signin, email: str) -> list[AdminRow]:
    """Users matching ``email`` (with their credential hash) per ``[signin] admin_sql``."""
    rows = query(conn, section.admin_sql, {"email": email}, where="[signin] admin_sql",
                 columns=("id", "role", "banned", "ban_expires", "password_hash"))
    return [AdminRow(id=str(r["id"]), role=r["role"], banned=r["banned"],
                     ban_expires=r["ban_expires"], password_hash=r["password_hash"])
            for r in rows]


def _roles(role: str | None) -> set[str]:
    return {r.strip() for r in (role or "").split(",") if r.strip()}


def check_admin_offline(rows: Sequence[AdminRow], creds: AdminCredentials, *,
                        admin_roles: Sequence[str], now: dt.datetime) -> Outcome:
    """Whether the restored admin exists, its password verifies, it is admin and not banned."""
    email = creds.email
    if not rows:
        return Outcome.failed(
            f"no user with the admin e-mail {email} exists in the restored auth database",
            remedy="check admin.email; if it is right, the admin account is missing from the "
            "backup (taken before the account existed, or the user table was damaged)",
            users_matched=0)
    if len(rows) > 1:
        return Outcome.failed(
            f"{len(rows)} users match the admin e-mail {email} ({', '.join(r.id for r in rows)})"
            ": better-auth keeps e-mails unique, so the restored user table is inconsistent",
            remedy="inspect the user table of the backup", users_matched=len(rows))
    row = rows[0]
    problems: list[str] = []
    verified = False
    if not row.password_hash:
        problems.append("it has no credential account (no password hash), so it cannot sign "
                        "in with a password")
    else:
        try:
            verified = verify_password(row.password_hash, creds.password)
        except MalformedPasswordHash as exc:
            problems.append(f"its stored password is unusable: {exc}")
        else:
            if not verified:
                problems.append("the configured admin password does not verify against the "
                                "restored better-auth credential hash (scrypt)")
    roles = _roles(row.role)
    role_problem = not roles & set(admin_roles)
    if role_problem:
        problems.append(f"it is not an admin: its role is {row.role!r}, not one of "
                        f"{', '.join(admin_roles)}")
    banned = bool(row.banned)
    ban_active = banned and (row.ban_expires is None or row.ban_expires > now)
    if ban_active:
        until = row.ban_expires.isoformat() if row.ban_expires else "indefinitely"
        problems.append(f"it is banned ({until})")
    measured: dict[str, Any] = {"users_matched": 1, "password_verified": verified,
                                "role": row.role or "", "banned": ban_active}
    if problems:
        if verified or not row.password_hash:
            # The password is fine: blaming it would send the operator the wrong way.
            remedy = ("the account's role (or ban) is the cause: admin.email must name an "
                      "admin account; if it does, the admin role was revoked (or the account "
                      "banned) before the backup was taken")
        else:
            remedy = ("check admin.password; if it is right, the restored account differs "
                      "from the live one (password changed after the backup, or the backup "
                      "comes from another deployment)")
        return Outcome.failed(
            f"the admin {email} (user {row.id}) exists in the restored auth database, but "
            + "; ".join(problems), remedy=remedy, **measured)
    note = " (a past ban has expired)" if banned else ""
    return Outcome.passed(
        f"the admin {email} (user {row.id}) exists in the restored auth database, the "
        f"configured password verifies against its better-auth scrypt hash, its role is "
        f"{row.role} and it is not banned{note}", **measured)


# -- over HTTP ------------------------------------------------------------------------------


@dataclass
class HttpReply:
    """One HTTP response."""

    status: int
    body: bytes
    cookies: dict[str, str]
    seconds: float

    def json(self) -> Any:
        """The body as JSON (None when it is not JSON)."""
        try:
            return json.loads(self.body or b"null")
        except ValueError:
            return None

    def error_code(self) -> str:
        """better-auth's error code (``INVALID_EMAIL_OR_PASSWORD``...) or ``HTTP <status>``."""
        data = self.json()
        if isinstance(data, dict) and data.get("code"):
            return str(data["code"])
        return f"HTTP {self.status}"


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def http_request(method: str, url: str, *, body: Any = None, cookies: dict[str, str] | None = None,
                 timeout: float = 30.0) -> HttpReply:
    """Send one request; connection problems raise could-not-verify, HTTP errors return."""
    headers = {"Accept": "application/json", "User-Agent": "scrydon-drill"}
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    if cookies:
        headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in cookies.items())
    req = urllib.request.Request(url, data=data, headers=headers, method=method)
    opener = urllib.request.build_opener(_NoRedirect)
    t0 = time.monotonic()
    try:
        resp = opener.open(req, timeout=timeout)
    except urllib.error.HTTPError as exc:
        resp = exc
    except (TimeoutError, urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        could_not_verify(f"cannot reach {_origin(url)}: {reason}",
                         remedy="check that the URL is right and the server is up and "
                         "reachable from this machine")
    with resp:
        payload = resp.read()
        jar: dict[str, str] = {}
        for header in resp.headers.get_all("Set-Cookie") or []:
            parsed = http.cookies.SimpleCookie()
            try:
                parsed.load(header)
            except http.cookies.CookieError:
                continue
            jar.update({k: m.value for k, m in parsed.items()})
        return HttpReply(status=resp.status, body=payload, cookies=jar,
                         seconds=time.monotonic() - t0)


def _origin(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def check_http_signin(auth_base: str, creds: AdminCredentials, *, timeout: float = 30.0,
                      what: str = "better-auth",
                      admin_roles: Sequence[str] = ("admin",)) -> Outcome:
    """Sign in over HTTP at ``auth_base`` (better-auth's ``.../api/auth``), as better-auth's
    web client does: the session must be accepted by ``get-session``, its user must hold one
    of ``admin_roles`` (the runbook signs in with a known *admin*) and a wrong password must
    be refused with 401.

    An unreachable server or a missing endpoint is could-not-verify.
    """
    base = auth_base.rstrip("/")
    signin = http_request("POST", f"{base}/sign-in/email",
                          body={"email": creds.email, "password": creds.password},
                          timeout=timeout)
    measured: dict[str, Any] = {"signin_status": signin.status,
                                "signin_seconds": round(signin.seconds, 3)}
    if signin.status == 404:
        could_not_verify(f"{what} at {base} has no sign-in endpoint (HTTP 404 on "
                         "POST /sign-in/email)",
                         remedy="check the URL and the profile's signin.api_base")
    if signin.status != 200:
        return Outcome.failed(
            f"{what} at {base} refused the admin {creds.email}: HTTP {signin.status} "
            f"({signin.error_code()})",
            remedy="signin.offline tells whether the restored password hash, role or ban is "
            "the cause; a 5xx means the server cannot use the restored database", **measured)
    body = signin.json()
    user = body.get("user") if isinstance(body, dict) else None
    session_cookies = {k: v for k, v in signin.cookies.items() if "session_token" in k}
    if not session_cookies:
        return Outcome.failed(
            f"{what} at {base} answered the admin's sign-in with 200 but set no session "
            "cookie", remedy="check the server's cookie settings (secure cookies behind a "
            "proxy?)", **measured)
    session = http_request("GET", f"{base}/get-session", cookies=signin.cookies,
                           timeout=timeout)
    data = session.json()
    session_user = data.get("user") if isinstance(data, dict) else None
    measured["session_status"] = session.status
    if session.status != 200 or not isinstance(session_user, dict):
        return Outcome.failed(
            f"{what} at {base} signed the admin in, but get-session does not accept the "
            f"session cookie it issued (HTTP {session.status}, "
            f"{'no session' if data is None else 'unexpected body'})",
            remedy="the session was not stored in (or not read back from) the restored "
            "database: check the session table and the server's secret", **measured)
    if str(session_user.get("email", "")).casefold() != creds.email.casefold():
        return Outcome.failed(
            f"{what} at {base} returned a session of {session_user.get('email')!r} for the "
            f"admin {creds.email}", remedy="inspect the restored session and user tables",
            **measured)
    role = session_user.get("role")
    if role is None and isinstance(user, dict):
        role = user.get("role")
    measured["role"] = str(role or "")
    if not _roles(str(role) if role else None) & set(admin_roles):
        return Outcome.failed(
            f"{what} at {base} signed {creds.email} in, but the session's user is not an "
            f"admin: its role is {role!r}, not one of {', '.join(admin_roles)}",
            remedy="admin.email must name an admin account; if it does, the admin role was "
            "revoked before the backup was taken", **measured)
    wrong = secrets.token_urlsafe(18)
    if wrong == creds.password:  # pragma: no cover - 144 random bits
        wrong += "x"
    refused = http_request("POST", f"{base}/sign-in/email",
                           body={"email": creds.email, "password": wrong}, timeout=timeout)
    measured["wrong_password_status"] = refused.status
    if refused.status != 401:
        danger = " — it accepts a wrong password" if refused.status == 200 else ""
        return Outcome.failed(
            f"{what} at {base} answered a sign-in with a wrong password with HTTP "
            f"{refused.status} ({refused.error_code()}) instead of 401{danger}",
            remedy="do not expose this platform; check the auth configuration", **measured)
    return Outcome.passed(
        f"the admin {creds.email} signed in to {what} at {base} (HTTP 200 in "
        f"{signin.seconds:.2f} s{', role ' + str(role) if role else ''}), get-session accepted "
        f"the issued session, and a wrong password was refused with 401", **measured)


def check_live_signin(database_url: str, creds: AdminCredentials, *,
                      timeout: float = 30.0, admin_roles: Sequence[str] = ("admin",),
                      owner: str | None = None) -> Outcome:
    """Serve the restored auth database with the real better-auth and sign in over HTTP.

    Missing node/npm (or an uninstallable better-auth) is could-not-verify, naming the
    install command; a server that cannot start on the restored database is a failure.
    """
    from harness.tools import betterauth_node as ba

    try:
        ba.ensure_installed()
    except ba.NodeToolMissing as exc:
        could_not_verify(f"the live sign-in needs Node.js and npm: {exc.message}",
                         remedy=exc.remedy)
    except ba.BetterAuthToolError as exc:
        could_not_verify(f"better-auth {ba.BETTER_AUTH_VERSION} could not be installed: "
                         f"{exc.message}", remedy=exc.remedy)
    try:
        with ba.serve(database_url, ready_timeout=timeout, owner=owner) as server:
            return check_http_signin(server.url(""), creds, timeout=timeout,
                                     what=f"better-auth {ba.BETTER_AUTH_VERSION}",
                                     admin_roles=admin_roles)
    except ba.BetterAuthServerError as exc:
        return Outcome.failed(
            f"better-auth {ba.BETTER_AUTH_VERSION} could not serve the restored auth database: "
            f"{exc.message}\n{exc.detail or ''}".rstrip(),
            remedy="the restored auth schema or data is not what better-auth expects; "
            "compare it with the source")


def check_deployed_signin(url: str, creds: AdminCredentials, section: Signin) -> Outcome:
    """Sign in to a deployed Scrydon at ``url`` (``drill.scratch_url``)."""
    parts = urllib.parse.urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        could_not_verify(f"drill.scratch_url {url!r} is not an http(s) URL",
                         remedy="set drill.scratch_url to the deployed platform's base URL, "
                         "e.g. https://scrydon.scratch.example")
    base = url.strip().rstrip("/") + section.api_base
    return check_http_signin(base, creds, timeout=section.timeout_seconds,
                             what="the deployed Scrydon", admin_roles=section.admin_roles)
