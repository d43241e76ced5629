"""The platform profile: the reference matches the drills, validation is strict and precise."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from harness.profile import (
    CHECK_IDS,
    MANDATORY_CHECKS,
    REFERENCE,
    ProfileError,
    load_profile,
    resolve_profile_path,
)

DRILLS = Path(__file__).resolve().parents[2] / "drills"


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def extending(tmp_path: Path, body: str, name: str = "mine.toml") -> Path:
    return write(tmp_path / name, f'[profile]\nname = "mine"\nextends = "reference"\n\n{body}')


def drill_check_ids() -> list[str]:
    """Every id declared by a drill_check marker on the test functions of drills/*.py."""
    import importlib

    ids = []
    for path in sorted(DRILLS.glob("test_*.py")):
        module = importlib.import_module(f"drills.{path.stem}")
        for name, fn in sorted(vars(module).items()):
            if name.startswith("test_") and callable(fn):
                ids += [str(m.kwargs["id"]) for m in getattr(fn, "pytestmark", [])
                        if m.name == "drill_check" and "id" in m.kwargs]
    return ids


def test_the_reference_profile_loads_and_matches_the_reference_deployment() -> None:
    p = load_profile()
    assert p.name == "reference" and p.files == (str(REFERENCE),)
    assert p.signin.database == "auth" and "%(email)s" in p.signin.admin_sql
    assert p.managed_tables.p95_limit_seconds == 2.0
    assert p.integrity.databases == ("auth", "agentic", "analytics", "cortex", "ontology")
    assert len(p.consistency.organisations.references) > 10
    assert p.checks.disabled == () and all(p.enabled(c) for c in CHECK_IDS)
    assert "sha256" in p.describe()
    assert load_profile("") == load_profile(None)


def test_every_check_id_is_declared_exactly_once_by_the_drills() -> None:
    declared = drill_check_ids()
    assert all(declared.count(check_id) == 1 for check_id in CHECK_IDS), declared
    assert len(set(declared)) == len(declared)


def test_extends_changes_only_what_the_file_sets(tmp_path: Path) -> None:
    p = load_profile(extending(tmp_path, "[license]\nmin_days_left = 90\n"))
    ref = load_profile()
    assert p.name == "mine" and p.license.min_days_left == 90
    assert p.license.sql == ref.license.sql and p.audit == ref.audit
    assert p.files == (str(REFERENCE), str((tmp_path / "mine.toml").resolve()))


def test_extends_a_relative_path_and_lists_replace_whole(tmp_path: Path) -> None:
    extending(tmp_path, '[workflow]\nnames = ["A", "B"]\n', name="base.toml")
    top = write(tmp_path / "top.toml", '[profile]\nname = "top"\nextends = "base.toml"\n\n'
                '[workflow]\nnames = ["C"]\n')
    p = load_profile(top)
    assert p.workflow.names == ("C",) and len(p.files) == 3


def test_extends_cycle_is_an_error(tmp_path: Path) -> None:
    write(tmp_path / "a.toml", '[profile]\nname = "a"\nextends = "b.toml"\n')
    write(tmp_path / "b.toml", '[profile]\nname = "b"\nextends = "a.toml"\n')
    with pytest.raises(ProfileError, match="cycle"):
        load_profile(tmp_path / "a.toml")


def test_unknown_key_names_the_file_and_the_key_with_a_suggestion(tmp_path: Path) -> None:
    f = extending(tmp_path, "[workflow]\nsample_sise = 3\n")
    with pytest.raises(ProfileError) as err:
        load_profile(f)
    text = err.value.render()
    assert "workflow.sample_sise" in text and str(f.resolve()) in text
    assert "Did you mean 'sample_size'?" in text and err.value.path == str(f.resolve())


def test_unknown_section_and_unknown_key_in_a_list_of_tables(tmp_path: Path) -> None:
    with pytest.raises(ProfileError, match="unknown profile section 'audt'"):
        load_profile(extending(tmp_path, "[audt]\nrpo_hours = 1\n"))
    body = ('[consistency.organisations]\nreferences = [{ name = "x", database = "auth", '
            'sql = "SELECT 1", colum = "y" }]\n')
    with pytest.raises(ProfileError, match=r"consistency\.organisations\.references\[0\]\.colum"):
        load_profile(extending(tmp_path, body))


@pytest.mark.parametrize(("body", "key", "problem"), [
    ('[kb]\nsample_size = "5"\n', "kb.sample_size", "expected an integer"),
    ("[kb]\nsample_size = true\n", "kb.sample_size", "expected an integer"),
    ("[audit]\nrpo_hours = \"1\"\n", "audit.rpo_hours", "expected a number"),
    ('[workflow]\nnames = "main"\n', "workflow.names", "expected a list"),
    ("[workflow]\nnames = [1]\n", "workflow.names[0]", "expected a string"),
    ("[kb]\nsample_size = -1\n", "kb.sample_size", "must not be negative"),
    ("[managed_tables]\np95_limit_seconds = 0\n", "managed_tables.p95_limit_seconds",
     "greater than 0"),
    ("[signin]\nadmin_sql = 'SELECT 1'\n", "signin.admin_sql", "%(email)s"),
    ("[managed_tables]\nquery_sql = 'SELECT COUNT(*) FROM t'\n", "managed_tables.query_sql",
     "{table}"),
    ("[audit]\nwindow_sql = 'SELECT count(*) FROM a WHERE t < %(end)s'\n", "audit.window_sql",
     "%(start)s"),
    ("[signin]\napi_base = 'api/auth'\n", "signin.api_base", "must start with '/'"),
    ("[integrity]\ndatabases = []\n", "integrity.databases", "at least one database"),
    ("[kb]\ndatabase = ' '\n", "kb.database", "must not be empty"),
])
def test_invalid_values_name_the_key_and_the_problem(tmp_path: Path, body: str, key: str,
                                                     problem: str) -> None:
    f = extending(tmp_path, body)
    with pytest.raises(ProfileError) as err:
        load_profile(f)
    text = err.value.render()
    assert f"'{key}'" in text and problem in text and str(f.resolve()) in text


def test_a_complete_profile_needs_every_required_key(tmp_path: Path) -> None:
    data = REFERENCE.read_text().replace("min_days_left = 30\n", "")
    assert load_profile(write(tmp_path / "full.toml", data)).license.min_days_left == 30
    without = REFERENCE.read_text().replace(
        'sql = "SELECT license_bundle FROM platform_config WHERE id = 1"\n', "")
    f = write(tmp_path / "partial.toml", without)
    with pytest.raises(ProfileError) as err:
        load_profile(f)
    assert "lacks the required key 'license.sql'" in err.value.render()
    assert str(f) in err.value.render() and "extends" in (err.value.remedy or "")


def test_errors_name_the_file_that_set_the_bad_value(tmp_path: Path) -> None:
    base = extending(tmp_path, "[kb]\nsample_size = -3\n", name="base.toml")
    top = write(tmp_path / "top.toml", '[profile]\nname = "t"\nextends = "base.toml"\n')
    with pytest.raises(ProfileError) as err:
        load_profile(top)
    assert str(base.resolve()) in err.value.render()


def test_disabled_checks_are_known_ids_and_never_restore(tmp_path: Path) -> None:
    p = load_profile(extending(tmp_path, '[checks]\ndisabled = ["consistency.notebooks"]\n'))
    assert not p.enabled("consistency.notebooks") and p.enabled("kb.documents")
    with pytest.raises(ProfileError, match="Did you mean 'consistency.notebooks'"):
        load_profile(extending(tmp_path, '[checks]\ndisabled = ["consistency.notebook"]\n'))
    for check in sorted(MANDATORY_CHECKS):
        with pytest.raises(ProfileError, match="cannot be disabled"):
            load_profile(extending(tmp_path, f'[checks]\ndisabled = ["{check}"]\n'))


def test_trusted_key_file_is_relative_to_the_profile(tmp_path: Path) -> None:
    (tmp_path / "issuer.pem").write_text("-----BEGIN PUBLIC KEY-----\n")
    p = load_profile(extending(tmp_path, '[license]\ntrusted_public_key_file = "issuer.pem"\n'))
    assert p.license.trusted_public_key_file == str(tmp_path.resolve() / "issuer.pem")
    with pytest.raises(ProfileError, match="does not exist"):
        load_profile(extending(tmp_path, '[license]\ntrusted_public_key_file = "nope.pem"\n'))


def test_unreadable_files_are_errors_naming_them(tmp_path: Path) -> None:
    with pytest.raises(ProfileError, match="not found"):
        load_profile(tmp_path / "missing.toml")
    bad = write(tmp_path / "bad.toml", "[profile\nname = 1\n")
    with pytest.raises(ProfileError, match="not valid TOML") as err:
        load_profile(bad)
    assert err.value.path == str(bad.resolve())


def test_the_reference_file_is_plain_toml_with_only_known_sections() -> None:
    data = tomllib.loads(REFERENCE.read_text())
    assert set(data) == {"profile", "sampling", "checks", "signin", "workflow", "kb",
                         "managed_tables", "audit", "secrets", "license", "consistency",
                         "integrity"}


def test_resolve_profile_path(tmp_path: Path) -> None:
    assert resolve_profile_path("", "default", tmp_path) is None
    assert resolve_profile_path("reference", "cli", tmp_path) == REFERENCE
    assert resolve_profile_path("p.toml", f"file:{tmp_path}/conf/drill.toml", "/elsewhere") \
        == tmp_path / "conf" / "p.toml"
    assert resolve_profile_path("p.toml", "cli", tmp_path) == tmp_path / "p.toml"
    assert resolve_profile_path("/abs/p.toml", "env", tmp_path) == Path("/abs/p.toml")
