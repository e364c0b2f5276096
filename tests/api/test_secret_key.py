"""The token-signing key lives outside the application's working tree (issue #11): a loader
or anything else that reads files under the clone cannot reach it."""

from __future__ import annotations

import stat
from pathlib import Path

import jwt
import pytest

from parkgis import auth
from parkgis.settings import PROJECT_ROOT, Settings


@pytest.fixture
def state_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "state"
    monkeypatch.setenv("XDG_STATE_HOME", str(home))
    return home


def test_new_key_is_outside_the_tree_and_private(tmp_path: Path, state_home: Path) -> None:
    data_dir = tmp_path / "clone" / ".parkgis"
    s = Settings(data_dir=data_dir, secret_key=None)
    key = auth.signing_key(s)
    files = list(state_home.rglob("*.key"))
    assert len(files) == 1 and files[0].read_text().strip() == key and len(key) >= 40
    assert stat.S_IMODE(files[0].stat().st_mode) == 0o600
    assert not (data_dir / "secret.key").exists()
    assert PROJECT_ROOT not in files[0].resolve().parents
    # The same installation finds the same key again (tokens survive a restart).
    token, _ = auth.issue_token(auth.User("wang", "planner"), s)
    assert (
        jwt.decode(token, files[0].read_text().strip(), algorithms=["HS256"], issuer="parkgis")[
            "sub"
        ]
        == "wang"
    )
    # Another installation (another data dir) on the same account gets its own key.
    other = auth.signing_key(Settings(data_dir=tmp_path / "other" / ".parkgis"))
    assert other != key


def test_old_key_in_the_tree_is_moved_out(tmp_path: Path, state_home: Path) -> None:
    data_dir = tmp_path / "clone" / ".parkgis"
    data_dir.mkdir(parents=True)
    old = "an-old-key-" + "x" * 40
    (data_dir / "secret.key").write_text(old)
    s = Settings(data_dir=data_dir, secret_key=None)
    # A token issued with the old key before the upgrade...
    token = jwt.encode(
        {"sub": "li", "role": "admin", "iss": "parkgis", "iat": 0, "exp": 2**31},
        old,
        algorithm="HS256",
    )
    assert auth.signing_key(s) == old
    assert not (data_dir / "secret.key").exists()
    (moved,) = state_home.rglob("*.key")
    assert moved.read_text().strip() == old
    assert stat.S_IMODE(moved.stat().st_mode) == 0o600
    # ...is still accepted after it.
    assert auth.decode_token(token, s)["sub"] == "li"


def test_explicit_key_and_key_file_win(tmp_path: Path, state_home: Path) -> None:
    s = Settings(data_dir=tmp_path, secret_key="from-env-" + "y" * 40)
    assert auth.signing_key(s) == "from-env-" + "y" * 40
    assert not state_home.exists()
    f = tmp_path / "elsewhere" / "k.key"
    s2 = Settings(data_dir=tmp_path, secret_key=None, secret_key_file=f)
    key = auth.signing_key(s2)
    assert f.read_text().strip() == key
    assert stat.S_IMODE(f.stat().st_mode) == 0o600
