"""The command run by another Unix user, for tests of file permissions: root, which runs the suite here, ignores file
modes, so a file of mode 0 or a folder of mode 0555 only means something to someone else.

The user is made with `useradd -M` under a name of its own and deleted at the end. Its files live in a folder it
owns below the system's temporary folder (pytest's tmp_path is root's, mode 0700). Its Python must be one it can
run: the suite's own interpreter, else the system's of the same version, given the suite's site-packages (the
suite's interpreter may live in root's home, which nobody else may enter).
"""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import site
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.clitools import REPO

USER_TOOLS = ("useradd", "userdel", "runuser")
LOCK_WAIT = 30.0  # seconds: useradd refuses while another one (another helper's tests) holds /etc/passwd


@dataclass(frozen=True)
class Stranger:
    """A Unix user other than root, and the Python it runs this worktree's code with."""

    name: str
    python: str
    pythonpath: str

    @contextmanager
    def folder(self) -> Iterator[Path]:
        """A fresh folder the user owns, removed afterwards (root may, whatever the modes inside)."""
        folder = Path(tempfile.mkdtemp(prefix="consolidate-stranger-"))
        try:
            self.own(folder)
            yield folder
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    def own(self, path: Path) -> None:
        """Give `path` and everything below it to the user; modes stay as the test set them."""
        account = pwd.getpwnam(self.name)
        for folder, folders, files in os.walk(path):
            for name in (*folders, *files):
                os.chown(os.path.join(folder, name), account.pw_uid, account.pw_gid, follow_symlinks=False)
        os.chown(path, account.pw_uid, account.pw_gid, follow_symlinks=False)

    def run(self, cwd: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        """`python -m consolidate ARGS` as the user, from `cwd` (given to the user first)."""
        self.own(cwd)
        return self.command(cwd, "-m", "consolidate", *args, env=env)

    def command(self, cwd: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        environment = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "PYTHONPATH": self.pythonpath,
            "PYTHONDONTWRITEBYTECODE": "1",  # the user may not write beside root's modules
            **(env or {}),
        }
        command = ["runuser", "-u", self.name, "--", self.python, *args]
        return subprocess.run(command, cwd=cwd, env=environment, capture_output=True, text=True, timeout=120)


@contextmanager
def another_user() -> Iterator[Stranger]:
    """A user made for the block and deleted after it; skips where that cannot be done, saying why."""
    if os.geteuid() != 0:
        pytest.skip("making a Unix user needs root")
    missing = [tool for tool in USER_TOOLS if shutil.which(tool) is None]
    if missing:
        pytest.skip(f"no {', '.join(missing)} on this machine")
    name = f"cons{os.getpid()}x{secrets.token_hex(3)}"  # unique among concurrent runs, under 32 characters
    _useradd(name)
    try:
        yield _with_python(name)
    finally:
        subprocess.run(["userdel", name], capture_output=True, check=False)


def _useradd(name: str) -> None:
    deadline = time.monotonic() + LOCK_WAIT
    while True:
        done = subprocess.run(["useradd", "-M", "-s", "/usr/sbin/nologin", name], capture_output=True, text=True)
        if done.returncode == 0:
            return
        if "lock" not in done.stderr or time.monotonic() > deadline:
            pytest.skip(f"useradd failed: {done.stderr.strip()}")
        time.sleep(0.1)  # polling a lock another process holds, until the deadline


def _with_python(name: str) -> Stranger:
    """The first interpreter the user can import the CLI with; skips when there is none."""
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    packages = os.pathsep.join([str(REPO), *site.getsitepackages()])
    candidates = [(sys.executable, str(REPO))]
    candidates += [(os.path.join(folder, version), packages) for folder in ("/usr/bin", "/usr/local/bin")]
    for python, path in candidates:
        stranger = Stranger(name, python, path)
        if os.path.exists(python) and stranger.command(Path("/"), "-c", "import consolidate.cli.main").returncode == 0:
            return stranger
    pytest.skip(f"no {version} that the user {name} may run imports this worktree's code")
