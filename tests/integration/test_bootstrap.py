"""`scripts/bootstrap` on a Python like Debian's own: pip installs refused (an EXTERNALLY-MANAGED
marker, PEP 668), no `venv` module, no `ensurepip`, and no uv on the PATH, with an empty HOME.

The interpreter is the one running the tests, given a standard library of its own: a folder of
links to the real one without `venv` and `ensurepip`, with the marker, and with pip in its
site-packages so that `python3 -m pip install` is really tried and really refused. The bootstrap
then fetches the pinned uv from PyPI (as a new user's first run does), and syncs a copy of the
project's environment with it. Python packages come from the uv cache of the machine when there
is one: the uv binary is what is under test, not the package downloads."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import tomllib
from pathlib import Path

import pytest

from aim_engine import __version__

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
PASSED_ON = ("http_proxy", "https_proxy", "no_proxy", "SSL_CERT_FILE", "SSL_CERT_DIR")
"""Of the caller's environment only what reaching PyPI may need."""


def debian_like_python(root: Path) -> Path:
    """A python3 whose standard library lacks venv and ensurepip and carries EXTERNALLY-MANAGED."""
    stdlib = Path(sysconfig.get_path("stdlib"))  # the base interpreter's, also from inside a venv
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    lib = root / "lib" / version
    lib.mkdir(parents=True)
    for entry in stdlib.iterdir():
        if entry.name not in {"venv", "ensurepip", "site-packages", "EXTERNALLY-MANAGED", "__pycache__"}:
            (lib / entry.name).symlink_to(entry)
    (lib / "EXTERNALLY-MANAGED").write_text(
        "[externally-managed]\nError=This Python is managed by the test (like Debian's).\n"
    )
    site = lib / "site-packages"
    site.mkdir()
    real_pip = Path(sysconfig.get_path("purelib", vars={"base": sys.base_prefix})) / "pip"
    if real_pip.is_dir():
        (site / "pip").symlink_to(real_pip)
    bin_dir = root / "bin"
    bin_dir.mkdir()
    # A copy, not a link: Python finds its prefix from where its binary is.
    base = getattr(sys, "_base_executable", sys.executable)  # the interpreter a venv was made from
    shutil.copy2(Path(base).resolve(), bin_dir / version)
    (bin_dir / "python3").symlink_to(version)
    return bin_dir / "python3"


def project_copy(target: Path) -> Path:
    """What `uv sync` of this project reads: its metadata, the lock, the sources and the scripts."""
    target.mkdir()
    for name in ("pyproject.toml", "uv.lock", "README.md"):
        shutil.copy2(REPO / name, target / name)
    ignore = shutil.ignore_patterns("__pycache__")
    for tree in ("src", "scripts"):
        shutil.copytree(REPO / tree, target / tree, ignore=ignore)
    return target


def uv_cache() -> Path | None:
    path = Path(os.environ.get("UV_CACHE_DIR") or Path.home() / ".cache" / "uv")
    return path if path.is_dir() else None


def test_bootstrap_works_where_pip_and_venv_are_refused(tmp_path: Path) -> None:
    python = debian_like_python(tmp_path / "python")
    path = f"{python.parent}:/usr/bin:/bin"
    assert shutil.which("uv", path=path) is None, "a uv on /usr/bin or /bin would hide what is tested"
    home = tmp_path / "home"
    home.mkdir()
    env = {"PATH": path, "HOME": str(home), "LANG": "C.UTF-8"}
    env |= {name: os.environ[name] for name in PASSED_ON if name in os.environ}
    env |= {name.upper(): os.environ[name.upper()] for name in PASSED_ON if name.upper() in os.environ}
    if cache := uv_cache():
        env["UV_CACHE_DIR"] = str(cache)

    # The interpreter is like Debian's: the old bootstrap's two ways are refused. (Where the
    # interpreter running the tests has no pip at all, as Debian's without python3-pip, pip is
    # refused by its absence instead.)
    pip = subprocess.run(
        [python, "-m", "pip", "install", "--no-index", "uv"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    said = pip.stdout + pip.stderr
    assert pip.returncode != 0
    assert "externally-managed-environment" in said or "No module named pip" in said, said
    venv = subprocess.run(
        [python, "-m", "venv", tmp_path / "v"], env=env, capture_output=True, text=True, check=False
    )
    assert venv.returncode != 0 and "No module named venv" in venv.stderr

    project = project_copy(tmp_path / "project")

    def bootstrap() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["bash", "scripts/bootstrap"],
            cwd=project,
            env=env,
            capture_output=True,
            text=True,
            check=False,
            timeout=600,
        )

    first = bootstrap()
    assert first.returncode == 0, first.stderr
    locked = next(p for p in tomllib.loads((REPO / "uv.lock").read_text())["package"] if p["name"] == "uv")
    uv = home / ".cache" / "aim-engine" / f"uv-{locked['version']}" / "uv"
    assert os.access(uv, os.X_OK)
    assert f"fetching uv {locked['version']}" in first.stderr
    # The environment is made with that interpreter, and the project's command runs from it.
    config = (project / ".venv" / "pyvenv.cfg").read_text()
    assert f"home = {python.parent}" in config
    version = subprocess.run(
        [project / ".venv" / "bin" / "aim-engine", "--version"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert version.returncode == 0 and __version__ in version.stdout
    # Run again: nothing is fetched, nothing is said.
    again = bootstrap()
    assert (again.returncode, again.stdout, again.stderr) == (0, "", "")
