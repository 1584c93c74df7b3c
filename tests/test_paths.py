"""meshtui.paths: the XDG directories and the one atomic write."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from meshtui.paths import config_dir, state_dir, write_atomic


def test_xdg_directories_follow_the_environment_and_ignore_relative_values(tmp_path) -> None:
    env = {"HOME": "/home/op", "XDG_CONFIG_HOME": str(tmp_path / "c")}
    assert config_dir(env) == tmp_path / "c" / "meshtui"
    assert state_dir(env) == Path("/home/op/.local/state/meshtui")
    relative = {"HOME": "/home/op", "XDG_CONFIG_HOME": "cfg", "XDG_STATE_HOME": "st"}
    assert config_dir(relative) == Path("/home/op/.config/meshtui")
    assert state_dir(relative) == Path("/home/op/.local/state/meshtui")


def test_every_user_of_the_config_directory_uses_it(monkeypatch, tmp_path) -> None:
    from meshtui.core.inventory import default_inventory_path
    from meshtui.ops.audit import audit_log_path, settings_path
    from meshtui.ui.app import keymap_path
    from meshtui.ui.themes import user_theme_dir

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "c"))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "s"))
    (tmp_path / "c" / "meshtui").mkdir(parents=True)
    (tmp_path / "c" / "meshtui" / "mesh.toml").write_text("")
    assert default_inventory_path() == tmp_path / "c" / "meshtui" / "mesh.toml"
    assert keymap_path() == tmp_path / "c" / "meshtui" / "keymap.toml"
    assert user_theme_dir() == tmp_path / "c" / "meshtui" / "themes"
    assert settings_path() == tmp_path / "c" / "meshtui" / "config.toml"
    assert audit_log_path() == tmp_path / "s" / "meshtui" / "audit.log"


def test_write_atomic_text_bytes_mode_and_new_directories(tmp_path) -> None:
    target = tmp_path / "new" / "dir" / "f.conf"
    write_atomic(target, "a\r\nb\n")
    assert target.read_bytes() == b"a\r\nb\n"
    assert stat.S_IMODE(target.stat().st_mode) == 0o644
    write_atomic(target, b"\x00key", 0o600)
    assert target.read_bytes() == b"\x00key"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert [p.name for p in target.parent.iterdir()] == ["f.conf"]


def test_write_atomic_keeps_the_old_file_when_writing_fails(tmp_path) -> None:
    target = tmp_path / "f"
    write_atomic(target, "old")
    with pytest.raises(TypeError):
        write_atomic(target, 42)  # type: ignore[arg-type]
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["f"]


def test_shipped_data_is_the_top_level_folder_in_a_source_tree_else_the_packaged_one(
    monkeypatch, tmp_path
) -> None:
    import meshtui.paths as paths
    from meshtui.transport.held import DEMO_DIR, demo_recording
    from meshtui.ui.themes import BUNDLED_DIR

    repo = Path(__file__).resolve().parents[1]
    assert DEMO_DIR == repo / "demo" and demo_recording().is_file()
    assert BUNDLED_DIR == repo / "themes" and len(list(BUNDLED_DIR.glob("*.toml"))) == 3
    assert not (repo / "meshtui" / "ui" / "demo_data").exists()  # one copy only
    assert not (repo / "meshtui" / "ui" / "themes").exists()
    site = tmp_path / "site-packages"  # an installed wheel: no pyproject.toml beside it
    (site / "meshtui" / "ui" / "demo_data").mkdir(parents=True)
    (site / "demo").mkdir()
    monkeypatch.setattr(paths, "PACKAGE", site / "meshtui")
    assert paths.shipped("demo", "ui/demo_data") == site / "meshtui" / "ui" / "demo_data"
