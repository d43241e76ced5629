"""``scrydon-drill doctor``: can a drill run here, with this configuration?

Every tool and server the configured provider needs, the backup source (listed, read-only),
the scratch target (Docker engine, Kubernetes cluster) and the credentials the drill will use
(present or not; never their values). Each missing piece comes with its remedy. Nothing is
provisioned and nothing is written.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass

from harness.config import DrillConfig
from harness.errors import DrillError


@dataclass
class Finding:
    """One line of the doctor's report."""

    what: str
    ok: bool
    detail: str
    remedy: str = ""
    required: bool = True  # a missing optional piece disables one check, not the drill


def _probe(what: str, probe: Callable[[], str], *, required: bool = True) -> Finding:
    try:
        return Finding(what, True, probe(), required=required)
    except DrillError as exc:
        return Finding(what, False, exc.message, exc.remedy or "", required)
    except Exception as exc:  # noqa: BLE001 - the doctor reports, it does not crash
        return Finding(what, False, f"{type(exc).__name__}: {str(exc)[:300]}", "",
                       required)


def _local(cfg: DrillConfig) -> list[Finding]:
    from harness.tools import pgbin
    from harness.tools.binaries import find_mariadbd, find_weed

    sc = cfg.scratch

    def postgres() -> str:
        inst = pgbin.find(sc.postgres_version, require_pgvector=sc.require_pgvector)
        return f"{inst.describe()}"

    return [_probe(f"PostgreSQL {sc.postgres_version} server and client tools", postgres),
            _probe("SeaweedFS (weed)", find_weed),
            _probe("MariaDB server (warehouse stand-in)", lambda: find_mariadbd()[0])]


def _containers(cfg: DrillConfig) -> list[Finding]:
    def engine() -> str:
        from harness.images.engine import connect

        eng = connect(cfg.containers.docker_host or None)
        version = eng.client.version().get("Version", "?")
        return f"Docker engine {version} at {eng.host}"

    return [_probe("Docker engine", engine)]


def _kubernetes(cfg: DrillConfig) -> list[Finding]:
    from harness.scratch.kube import Kube, find_tool

    kc = cfg.kubernetes
    out = [_probe("kubectl", lambda: find_tool("kubectl", kc.kubectl)),
           _probe("helm", lambda: find_tool("helm", kc.helm))]
    out.append(_probe("Kubernetes cluster", lambda: "server " + Kube(kc).server_version()))
    return out


def _source(cfg: DrillConfig) -> list[Finding]:
    from harness.drill import open_catalog

    def source() -> str:
        src, catalog = open_catalog(cfg)
        rs = catalog.choose_restore_set()
        return f"{src.root}: newest restorable set {rs.run}"

    return [_probe("backup source (read-only listing)", source)]


def _credentials(cfg: DrillConfig) -> list[Finding]:
    def present(value: str, what: str, remedy: str, required: bool = True) -> Finding:
        return Finding(what, bool(value), "set" if value else "not set", "" if value else remedy,
                       required)

    out = [present(cfg.admin.email, "admin e-mail (signin checks)",
                   "set admin.email (a known admin of the backed-up platform)"),
           present(cfg.admin.password, "admin password (signin checks)",
                   "set SCRYDON_DRILL_ADMIN_PASSWORD (kept out of files and output)")]
    if cfg.backups.source.startswith("s3://"):
        out.append(present(cfg.backups.s3_secret_key, "backup source S3 secret key",
                           "set SCRYDON_DRILL_BACKUPS_S3_SECRET_KEY, or leave empty to use "
                           "boto3's default credentials", required=False))
    return out


def _optional_tools() -> list[Finding]:
    node = shutil.which("node")
    return [Finding("node (better-auth live sign-in)", bool(node), node or "not on PATH",
                    "" if node else "install nodejs: without it signin.live cannot verify",
                    required=False)]


def diagnose(cfg: DrillConfig) -> list[Finding]:
    """Every finding for this configuration, in the order a drill needs them."""
    provider = {"local": _local, "containers": _containers,
                "kubernetes": _kubernetes}.get(cfg.scratch.provider)
    findings = provider(cfg) if provider else []
    return findings + _source(cfg) + _credentials(cfg) + _optional_tools()


def report(findings: list[Finding]) -> tuple[str, bool]:
    """The printed report and whether every required piece is there."""
    lines = []
    for f in findings:
        mark = "ok  " if f.ok else ("MISSING" if f.required else "warn")
        lines.append(f"{mark:<8}{f.what}: {f.detail}")
        if not f.ok and f.remedy:
            lines.append(f"        what to do: {f.remedy}")
    ready = all(f.ok or not f.required for f in findings)
    lines.append("ready to drill" if ready else "not ready: fix the MISSING lines above")
    return "\n".join(lines), ready
