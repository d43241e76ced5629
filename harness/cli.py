"""The ``scrydon-drill`` command."""

from __future__ import annotations

import argparse
import functools
import sys
import time
from collections.abc import Sequence
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, NoReturn

from harness import __version__
from harness.errors import EXIT_CODES, EXIT_INTERRUPTED, EXIT_NOT_STARTED, EXIT_USAGE, DrillError

if TYPE_CHECKING:
    from harness.config import DrillConfig

#: Entry-point group of further ``scrydon-drill`` commands: ``register(subparsers, common)``.
COMMANDS_GROUP = "scrydon_drill.commands"


def config_from_args(args: argparse.Namespace) -> DrillConfig:
    from harness import config

    cli: config.Layer = {}
    if getattr(args, "set", None):
        cli = config.parse_assignments(args.set)
    if getattr(args, "scratch", None):
        cli.setdefault("scratch", {})["provider"] = args.scratch
    if getattr(args, "keep", None):
        cli.setdefault("scratch", {})["keep"] = args.keep
    if getattr(args, "root", None):
        cli.setdefault("scratch", {})["root"] = args.root
    return config.resolve(cli=cli, config_file=getattr(args, "config", None))


def cmd_sweep(args: argparse.Namespace) -> int:
    """Remove leftovers of killed runs."""
    from harness.scratch.sweep import sweep

    cfg = config_from_args(args)
    report = sweep(cfg.scratch.root or None, include_kept=args.include_kept,
                   only=set(args.run) if args.run else None)
    print(report.summary())
    for d in report.removed_dirs:
        print(f"  removed {d}")
    for item in report.removed:
        print(f"  removed {item}")
    for pid, rid in sorted(report.killed.items()):
        print(f"  killed pid {pid} (run {rid})")
    return 1 if report.errors else 0


def cmd_doctor(args: argparse.Namespace) -> int:
    """Report what a drill with this configuration needs and what is missing; exit 3 when a
    required piece is missing."""
    from harness.doctor import diagnose, report

    cfg = config_from_args(args)
    print(f"scrydon-drill doctor: provider {cfg.scratch.provider}")
    text, ready = report(diagnose(cfg))
    print(text)
    return 0 if ready else EXIT_NOT_STARTED


def cmd_plan(args: argparse.Namespace) -> int:
    """Print what a drill would restore and check; exit 3 when no set can be restored."""
    from harness.planning import plan_text

    print(plan_text(config_from_args(args)))
    return 0


def cmd_history(args: argparse.Namespace) -> int:
    """Print the past runs from the history index."""
    from harness.planning import history_text

    print(history_text(config_from_args(args), limit=args.limit))
    return 0


def cmd_images(args: argparse.Namespace) -> int:
    """Build (or reuse) the local container images the containers provider falls back on."""
    from harness.images.build import build_images, summary_table

    cfg = config_from_args(args)
    infos = build_images(args.names or None, docker_host=cfg.containers.docker_host or None,
                         force=args.force,
                         progress=(lambda line: None) if args.quiet else print)
    print(summary_table(infos))
    return 0


def cmd_servers(args: argparse.Namespace) -> int:
    """List the server installations the local provider can use."""
    from harness.errors import ServerNotFound
    from harness.tools import pgbin
    from harness.tools.binaries import find_mariadbd, find_weed

    for inst in pgbin.installations():
        print(inst.describe())
    for label, finder in (("SeaweedFS", find_weed), ("MariaDB", find_mariadbd)):
        try:
            print(f"{label}: {finder()}")
        except ServerNotFound as exc:
            print(f"{label}: missing — {exc.remedy}")
    return 0


def cmd_up(args: argparse.Namespace) -> int:
    """Start a scratch environment and hold it until interrupted (for exploring by hand)."""
    from harness.scratch.session import ScratchSession
    from harness.signals import teardown_on_signals

    cfg = config_from_args(args)
    with teardown_on_signals():
        session = ScratchSession(cfg)
        t0 = time.monotonic()
        try:
            ep = session.open()
            assert session.run is not None
            print(f"scratch environment {session.run.run_id} ready in "
                  f"{time.monotonic() - t0:.1f} s", flush=True)
            if ep.postgres:
                print(f"  postgres  127.0.0.1:{ep.postgres.port} "
                      f"(PostgreSQL {ep.postgres.version})")
            if ep.s3:
                print(f"  s3        {ep.s3.url}")
            if ep.warehouse:
                print(f"  warehouse 127.0.0.1:{ep.warehouse.port} ({ep.warehouse.kind})")
            print("press Ctrl-C to tear it down", flush=True)
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            print("\ntearing down", flush=True)
            session.close(failed=False)
            return 130
        except BaseException:
            session.close(failed=True)
            raise


def cmd_posture(args: argparse.Namespace) -> int:
    """The posture checks alone, in seconds, with evidence; exit code as a drill's."""
    from harness.drill import posture_run
    from harness.evidence.finish import FinishOptions, drill_exit_code, finish_run

    cfg = config_from_args(args)
    t0 = time.monotonic()
    run = posture_run(cfg)
    done = finish_run(run.record, cfg, FinishOptions(secrets=run.secrets))
    for check in done.record.checks:
        mark = {"pass": "ok  ", "fail": "FAIL"}.get(check.verdict, "??  ")
        print(f"[{mark}] {check.id}: {check.message}")
    for error in done.record.run_errors:
        print(f"run error: {error}", file=sys.stderr)
    print(f"posture of {cfg.backups.source} in {time.monotonic() - t0:.1f} s; evidence: "
          f"{done.folder}")
    return run.error.exit_code if run.error else drill_exit_code(done.record, {})


def cmd_verify_evidence(args: argparse.Namespace) -> int:
    """Check a report folder against its manifest (and signature); 1 on any change."""
    from harness.evidence.verify import run_verify, verify_s3

    if args.folder.startswith("s3://"):
        from harness.evidence.finish import s3_options

        return verify_s3(args.folder, s3_options(config_from_args(args)),
                         public_key=args.public_key, require_signature=args.require_signature,
                         require_lock=args.require_lock)
    return run_verify(args.folder, public_key=args.public_key,
                      require_signature=args.require_signature)


def drill_pytest_args(args: argparse.Namespace) -> list[str]:
    """The pytest command line that runs the drill suites with this CLI's options."""
    # Hypothesis' pytest plugin (installed beside the harness's own tests) imports all of
    # Hypothesis for its end-of-session summary: 1.6 s of every drill, for nothing.
    argv = ["--pyargs", "drills", "-p", "no:cacheprovider", "-p", "no:hypothesispytest", "-q",
            "-rA", "--drill-report"]
    if getattr(args, "config", None):
        argv += ["--drill-config", args.config]
    for item in getattr(args, "set", None) or []:
        argv += ["--drill-set", item]
    if getattr(args, "root", None):
        argv += ["--drill-set", f"scratch.root={args.root}"]
    if getattr(args, "scratch", None):
        argv += ["--drill-set", f"scratch.provider={args.scratch}"]
    if getattr(args, "keep", None):
        argv += ["--drill-keep", args.keep]
    if getattr(args, "allow_unverified", False):
        argv += ["--drill-allow-unverified"]
    if getattr(args, "pitr_target", None):
        argv += ["--drill-set", f"drill.pitr_target={args.pitr_target}"]
    return argv + list(getattr(args, "pytest_args", []) or [])


def cmd_drill(args: argparse.Namespace) -> int:
    """Run the drill suites (pytest) against the configured backups."""
    import pytest

    from harness.signals import interrupted, teardown_on_signals

    # For the whole run, not only while scratch servers live: a SIGTERM during the posture
    # checks or while evidence is written must unwind too (and be recorded as interrupted).
    with teardown_on_signals():
        code = int(pytest.main(drill_pytest_args(args)))
        # Interrupted while pytest was still starting (before its session began, so before
        # the drill's exit code was made): pytest says 2, which a drill means otherwise.
        if interrupted() and code == pytest.ExitCode.INTERRUPTED:
            return EXIT_INTERRUPTED
        return code


def _with_pitr(cfg: DrillConfig, target: str) -> DrillConfig:
    import dataclasses

    return dataclasses.replace(cfg, drill=dataclasses.replace(cfg.drill, pitr_target=target))


def cmd_restore(args: argparse.Namespace) -> int:
    """Targeted restore into a kept scratch environment: one store, one table or one object."""
    from harness.drill import open_catalog, restore_set_into
    from harness.restore.objects import upload_objects
    from harness.restore.postgres import inspect_dump, restore_table
    from harness.scratch.session import ScratchSession
    from harness.signals import teardown_on_signals

    cfg = config_from_args(args)
    source, catalog = open_catalog(cfg)
    rs = catalog.choose_restore_set()
    print(f"restore set: {rs.run} (backup time {rs.backup_time.isoformat()})")
    for flag in rs.flags:
        print(f"  warning: {flag}")
    session = ScratchSession(cfg)
    failed = True
    with teardown_on_signals():
        try:
            ep = session.open()
            assert session.run is not None
            staging = session.run.subdir("staging")
            if args.pitr_target:
                from harness.drill import restore_pitr

                cfg = _with_pitr(cfg, args.pitr_target)
                assert session.provider is not None
                endpoint, proof = restore_pitr(cfg, source, catalog, session.provider, staging)
                print(f"point-in-time recovery to {proof.target.isoformat()}: {proof.stopped}; "
                      f"{proof.last_transaction}")
                print(f"PITR server on {endpoint.host}:{endpoint.port}")
            elif args.table:
                assert ep.postgres is not None
                db, _, table = args.table.partition(".")
                plan = inspect_dump(db, source.fetch(rs.dumps[db].relpath, staging), ep.postgres)
                rows = restore_table(plan, ep.postgres, table)
                print(f"restored {db}.{table}: {rows} rows")
            elif args.object:
                assert ep.s3 is not None
                wanted = [a for a in rs.objects if a.name == args.object]
                items = [(a.name.split("/", 1)[0], a.name.split("/", 1)[1],
                          functools.partial(source.fetch, a.relpath, staging)) for a in wanted]
                done = upload_objects(items, ep.s3)
                if not done.hashes:
                    print(f"object {args.object} is not in the replica", file=sys.stderr)
                    return 1
                print(f"restored {args.object}: sha256 {done.hashes[args.object]}")
            else:
                stores = tuple(args.store) if args.store else ("postgres", "objects", "warehouse")
                from harness.restore.engine import describe_timing

                result = restore_set_into(cfg, ep, source, rs, staging,
                                          stores=stores)
                for store, err in result.errors.items():
                    print(f"{store}: FAILED\n{err}")
                print(describe_timing(result))
                if result.errors:
                    return 1
            failed = False
            return 0
        finally:
            session.close(failed=failed)


class _Parser(argparse.ArgumentParser):
    """argparse, with usage errors exiting 4 (argparse's own 2 means "could not verify")."""

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


_EPILOG = "exit codes:\n" + "\n".join(f"  {code:<3} {text}" for code, text in EXIT_CODES.items())


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (exposed for documentation and tests)."""
    parser = _Parser(prog="scrydon-drill", description="Disaster-recovery drills for Scrydon.",
                     epilog=_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"scrydon-drill {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    def common(p: argparse.ArgumentParser) -> None:
        """The options every command that reads a configuration takes."""
        p.add_argument("--config", help="drill config file (TOML)")
        p.add_argument("--set", action="append", metavar="SECTION.KEY=VALUE",
                       help="override one setting (repeatable)")
        p.add_argument("--root", help="directory holding run folders (scratch.root)")

    p = sub.add_parser("drill", help="run the drill suites against the configured backups",
                       epilog=_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    common(p)
    p.add_argument("--keep", choices=["never", "failed", "always"])
    p.add_argument("--scratch", help="scratch provider (scratch.provider)")
    p.add_argument("--allow-unverified", action="store_true",
                   help="do not fail the run for checks that could not be verified")
    p.add_argument("--pitr-target", help="also recover PostgreSQL to this ISO 8601 time and "
                   "check the audit log stops there")
    p.add_argument("pytest_args", nargs="*", help="extra pytest arguments (after --)")
    p.set_defaults(func=cmd_drill)

    p = sub.add_parser("posture", help="the posture checks alone (no restore), with evidence",
                       epilog=_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    common(p)
    p.set_defaults(func=cmd_posture)

    p = sub.add_parser("doctor", help="can a drill run here? tools, servers, the backup "
                       "source, the scratch target and credentials (never printed)")
    common(p)
    p.set_defaults(func=cmd_doctor)

    p = sub.add_parser("plan", help="what a drill would restore and check, from the catalogue "
                       "alone (nothing provisioned)")
    common(p)
    p.set_defaults(func=cmd_plan)

    p = sub.add_parser("history", help="past runs: RTO/RPO against targets, regressions")
    common(p)
    p.add_argument("--limit", type=int, help="how many runs (evidence.history_runs)")
    p.set_defaults(func=cmd_history)

    p = sub.add_parser("restore", help="targeted restore: one store, table or object")
    common(p)
    p.add_argument("--keep", choices=["never", "failed", "always"], default="always")
    p.add_argument("--store", action="append", choices=["postgres", "objects", "warehouse"])
    p.add_argument("--table", help="DATABASE.TABLE to restore alone (pg_restore -t)")
    p.add_argument("--object", help="BUCKET/KEY to restore alone")
    p.add_argument("--pitr-target", help="point-in-time recovery of PostgreSQL to this ISO "
                   "8601 time (base backup + WAL archive)")
    p.set_defaults(func=cmd_restore)

    p = sub.add_parser("up", help="start a scratch environment and hold it until Ctrl-C")
    common(p)
    p.add_argument("--scratch", help="scratch provider (default: local)")
    p.set_defaults(func=cmd_up)

    p = sub.add_parser("sweep", help="remove leftovers of killed runs (only what the harness made)")
    common(p)
    p.add_argument("--include-kept", action="store_true",
                   help="also remove runs kept with --drill-keep")
    p.add_argument("--run", action="append", help="only this run id (repeatable)")
    p.set_defaults(func=cmd_sweep)

    for entry in entry_points(group=COMMANDS_GROUP):
        # Commands shipped beside the library (the reference deployment, the demo, the
        # self-test) register themselves; the library never imports them.
        entry.load()(sub, common)

    p = sub.add_parser("images", help="container images for the containers provider")
    images = p.add_subparsers(dest="images_command", required=True, parser_class=_Parser)
    p = images.add_parser("build", help="build the local stand-in images from packages this "
                          "machine reaches (cached by recipe hash; no registry needed)")
    common(p)
    p.add_argument("names", nargs="*", metavar="NAME",
                   help="base, postgres, seaweedfs or mariadb (default: all; base is "
                   "always included)")
    p.add_argument("--force", action="store_true", help="rebuild even when cached")
    p.add_argument("--quiet", action="store_true", help="print the summary table only")
    p.set_defaults(func=cmd_images)

    p = sub.add_parser("servers", help="list server installations the local provider can use")
    p.set_defaults(func=cmd_servers)

    p = sub.add_parser("verify-evidence",
                       help="check a report folder against its manifest; fails on any change")
    common(p)
    p.add_argument("folder", help="a report folder, e.g. reports/<run-id>, or a published "
                   "run in place: s3://bucket/prefix/<run-id>/ (credentials: evidence.s3_*)")
    p.add_argument("--require-lock", action="store_true",
                   help="S3: fail unless every object is under Object Lock retention")
    p.add_argument("--public-key", metavar="FILE",
                   help="trusted Ed25519 public key (PEM or base64); requires a valid signature")
    p.add_argument("--require-signature", action="store_true",
                   help="fail when the manifest is not signed")
    p.set_defaults(func=cmd_verify_evidence)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``scrydon-drill`` command."""
    args = build_parser().parse_args(argv)
    from harness import progress
    from harness.scratch.tempdirs import private_tempdir

    if args.func is not cmd_drill:  # a drill reports through pytest's terminal writer
        live = sys.stderr.isatty()
        progress.install(lambda line, transient: print(
            ("\r\x1b[K" if live else "") + line, end="" if transient else "\n",
            file=sys.stderr, flush=True), live=live)
    try:
        with private_tempdir():
            return int(args.func(args))
    except DrillError as exc:
        print(f"scrydon-drill: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    finally:
        progress.install(None)


if __name__ == "__main__":
    from harness.signals import forget_caught_interrupts

    exit_code = main()
    forget_caught_interrupts()  # the code decides the exit status, also after a Ctrl-C
    sys.exit(exit_code)
