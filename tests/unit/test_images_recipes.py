"""Recipe hashing, tags and build contexts of harness.images (no Docker engine needed)."""

from __future__ import annotations

import os
import re
import shutil
import tarfile
from pathlib import Path

import pytest

from harness.images import default_images, image_recipes, image_stores, local_images
from harness.images.context import write_context
from harness.images.hashing import tree_digest, tree_manifest
from harness.images.inputs import ImageInput
from harness.images.recipes import RECIPES_DIR, ImageRecipe, recipe_hash


@pytest.fixture()
def recipe_dir(tmp_path: Path) -> Path:
    """A copy of the real postgres recipe, free to change."""
    target = tmp_path / "postgres"
    shutil.copytree(RECIPES_DIR / "postgres", target)
    return target


def fake_input(tmp_path: Path, version: str = "16.14", content: bytes = b"binary") -> ImageInput:
    tree = tmp_path / "tree"
    (tree / "bin").mkdir(parents=True, exist_ok=True)
    (tree / "bin" / "postgres").write_bytes(content)
    return ImageInput(name="postgresql", source=tree, dest="pgsql", version=version,
                      digest=tree_digest(tree), build_args={"PG_HOME": "x"})


def test_same_recipe_gives_same_hash_wherever_it_lies(recipe_dir: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "another" / "checkout"
    shutil.copytree(recipe_dir, elsewhere)
    first = recipe_hash("postgres", recipe_dir, fields={"base": "b"})
    assert first == recipe_hash("postgres", recipe_dir, fields={"base": "b"})
    assert first == recipe_hash("postgres", elsewhere, fields={"base": "b"})
    assert re.fullmatch(r"[0-9a-f]{16}", first)


def test_changing_any_recipe_file_changes_the_hash(recipe_dir: Path) -> None:
    before = recipe_hash("postgres", recipe_dir)
    seen = {before}
    for rel in ("Dockerfile", "docker-entrypoint.sh"):
        path = recipe_dir / rel
        original = path.read_bytes()
        path.write_bytes(original + b"\n# changed\n")
        changed = recipe_hash("postgres", recipe_dir)
        assert changed not in seen, rel
        seen.add(changed)
        path.write_bytes(original)
        assert recipe_hash("postgres", recipe_dir) == before, "reverting restores the hash"


def test_adding_or_renaming_a_file_changes_the_hash(recipe_dir: Path) -> None:
    before = recipe_hash("postgres", recipe_dir)
    (recipe_dir / "extra.conf").write_text("x = 1\n")
    added = recipe_hash("postgres", recipe_dir)
    (recipe_dir / "extra.conf").rename(recipe_dir / "other.conf")
    renamed = recipe_hash("postgres", recipe_dir)
    assert len({before, added, renamed}) == 3


def test_timestamps_and_editor_leftovers_do_not_count(recipe_dir: Path) -> None:
    before = recipe_hash("postgres", recipe_dir)
    os.utime(recipe_dir / "Dockerfile", (1, 1))
    (recipe_dir / "Dockerfile~").write_text("backup")
    assert recipe_hash("postgres", recipe_dir) == before


def test_fields_name_and_inputs_change_the_hash(recipe_dir: Path, tmp_path: Path) -> None:
    item = fake_input(tmp_path)
    base = recipe_hash("postgres", recipe_dir, fields={"base": "aaa"}, inputs=[item.identity()])
    assert base == recipe_hash("postgres", recipe_dir, fields={"base": "aaa"},
                               inputs=[fake_input(tmp_path).identity()])
    variants = {
        recipe_hash("postgres", recipe_dir, fields={"base": "bbb"}, inputs=[item.identity()]),
        recipe_hash("other", recipe_dir, fields={"base": "aaa"}, inputs=[item.identity()]),
        recipe_hash("postgres", recipe_dir, fields={"base": "aaa"},
                    inputs=[fake_input(tmp_path, version="16.15").identity()]),
        recipe_hash("postgres", recipe_dir, fields={"base": "aaa"},
                    inputs=[fake_input(tmp_path, content=b"other bytes").identity()]),
        recipe_hash("postgres", recipe_dir, fields={"base": "aaa"}),
    }
    assert base not in variants and len(variants) == 5


def test_tree_digest_sees_bytes_modes_and_links_but_honours_exclude(tmp_path: Path) -> None:
    tree = tmp_path / "t"
    (tree / "lib").mkdir(parents=True)
    (tree / "lib" / "libpq.so.5").write_bytes(b"elf")
    (tree / "lib" / "libpq.so").symlink_to("libpq.so.5")
    (tree / ".complete").write_text("/some/machine/path\n")
    digest = tree_digest(tree, exclude=(".complete",))
    (tree / ".complete").write_text("/another/machine\n")
    assert tree_digest(tree, exclude=(".complete",)) == digest
    assert tree_digest(tree) != digest
    (tree / "lib" / "libpq.so").unlink()
    (tree / "lib" / "libpq.so").symlink_to("elsewhere")
    relinked = tree_digest(tree, exclude=(".complete",))
    assert relinked != digest
    (tree / "lib" / "libpq.so.5").chmod(0o755)
    assert tree_digest(tree, exclude=(".complete",)) != relinked
    assert [line.split()[1] for line in tree_manifest(tree, (".complete",))] == [
        "lib", "lib/libpq.so", "lib/libpq.so.5"]


def test_real_recipes_are_complete_and_hash_apart() -> None:
    recipes = image_recipes()
    assert list(recipes) == ["base", "postgres", "seaweedfs", "mariadb"]
    assert (recipes["base"].directory / "base.toml").is_file()
    for name in ("postgres", "seaweedfs", "mariadb"):
        dockerfile = (recipes[name].directory / "Dockerfile").read_text()
        assert "FROM ${BASE}" in dockerfile
        assert any(rel.endswith(".sh") for rel, _ in recipes[name].files())
    hashes = {recipe_hash(name, r.directory) for name, r in recipes.items()}
    assert len(hashes) == 4


def test_tags_and_image_maps() -> None:
    recipe = image_recipes()["postgres"]
    assert recipe.tag("0123456789abcdef") == "scrydon-drill/postgres:0123456789abcdef"
    assert recipe.local_tag == "scrydon-drill/postgres:local"
    upstream = default_images()
    assert set(upstream) == {"postgres", "seaweedfs", "mariadb", "starrocks"}
    for ref in upstream.values():
        name, _, tag = ref.rpartition(":")
        assert name and tag and tag != "latest", ref
    assert upstream["mariadb"] == "mariadb:11.4"
    assert local_images() == {n: f"scrydon-drill/{n}:local"
                              for n in ("postgres", "seaweedfs", "mariadb")}
    assert image_stores() == {"postgres": "postgres", "seaweedfs": "objects",
                              "mariadb": "warehouse", "starrocks": "warehouse"}


def test_context_holds_recipe_and_inputs_owned_by_root(tmp_path: Path) -> None:
    item = fake_input(tmp_path)
    (item.source / ".complete").write_text("machine path")
    (item.source / "bin" / "postgres").chmod(0o755)
    item = ImageInput(**{**item.__dict__, "exclude": (".complete",)})
    recipe = ImageRecipe("postgres", "postgres", "up:1", "", RECIPES_DIR / "postgres")
    out = tmp_path / "context.tar"
    with out.open("wb") as fh:
        write_context(recipe, [item], fh)
    with tarfile.open(out) as tar:
        members = {m.name: m for m in tar.getmembers()}
    assert {"Dockerfile", "docker-entrypoint.sh", "pgsql", "pgsql/bin/postgres"} <= set(members)
    assert "pgsql/.complete" not in members
    assert members["docker-entrypoint.sh"].mode == 0o755
    assert members["Dockerfile"].mode == 0o644
    assert members["pgsql/bin/postgres"].mode == 0o755
    assert all(m.uid == 0 and m.gid == 0 for m in members.values())
