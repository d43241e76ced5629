"""license.valid: the restored license verifies, carries Scrydon's claims and has time left.

The license lives in the restored auth database (``platform_config``) and is read on every
request: there is no re-application after a restore, so a restore brings back whatever the
backup held, possibly an expired license.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.checks.base import Outcome, query
from harness.crypto import license as lic

if TYPE_CHECKING:
    import psycopg

    from harness.profile import License


def fetch_license_bundle(conn: psycopg.Connection[Any], section: License) -> str | None:
    """The license bundle JSON per ``[license] sql`` (None when there is none)."""
    rows = query(conn, section.sql, {}, where="[license] sql")
    if not rows:
        return None
    value = next(iter(rows[0].values()), None)
    if isinstance(value, (bytes, bytearray, memoryview)):
        value = bytes(value).decode("utf-8", "replace")
    return None if value is None else str(value)


def check_license(bundle: str | None, *, now: dt.datetime, min_days_left: int,
                  trusted_public_key_file: str = "") -> Outcome:
    """Verify the bundle's RS256 JWT and claims as of ``now``, with ``min_days_left`` to go."""
    measured: dict[str, Any] = {"min_days_left": min_days_left}
    if not bundle:
        return Outcome.failed(
            "the restored platform_config holds no license bundle: the platform will run "
            "unlicensed after this restore", remedy="install the license (Settings → License "
            "→ Update license) and check why the backup lacks it", **measured)
    trusted = None
    if trusted_public_key_file:
        trusted = Path(trusted_public_key_file).read_bytes()
    try:
        report = lic.verify_license_bundle(bundle, now=now, min_days_left=min_days_left,
                                           trusted_public_key=trusted)
    except (lic.LicenseExpired, lic.LicenseExpiresSoon) as exc:
        if exc.report is not None:
            measured.update(_facts(exc.report))
        return Outcome.failed(
            f"the restored license verifies, but {exc}",
            remedy="install a renewed license (Settings → License → Update license) before "
            "relying on this backup, and renew it on the live platform", **measured)
    except lic.LicenseError as exc:
        return Outcome.failed(
            f"the restored license does not verify: {exc}",
            remedy="the bundle in platform_config was altered or replaced: restore it from an "
            "earlier backup or install the license again", **measured)
    measured.update(_facts(report))
    origin = ("against the trusted issuer key" if trusted else
              f"against its bundled key (SHA-256 {report.public_key_fingerprint[:16]}…)")
    ent = ", ".join(f"{k} {v}" for k, v in report.entitlements.items())
    return Outcome.passed(
        f"the restored license verifies (RS256, {origin}) with Scrydon's claims: organisation "
        f"{report.org}, tier {report.tier}, entitlements {ent}; it expires "
        f"{report.expires_at.date().isoformat()}, {report.days_left} days from now (at least "
        f"{min_days_left} required)", **measured)


def _facts(report: lic.LicenseReport) -> dict[str, Any]:
    return {"days_left": report.days_left, "expires_at": report.expires_at.isoformat(),
            "tier": report.tier, "org": report.org, "license_id": report.license_id,
            "key_fingerprint": report.public_key_fingerprint[:16]}
