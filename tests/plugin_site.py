"""Install a plugin project the way pip does, and run the zoo in an interpreter that sees only chosen site dirs.

``install_source(project, site)`` leaves in ``site`` what ``pip install --no-deps --target site project`` leaves:
the packages of the wheel and a ``.dist-info`` with METADATA and the entry points (read from pyproject.toml), so
``importlib.metadata`` finds the plugin exactly as it finds an installed one (no build backend or network needed).
``site_without(dist, into)`` makes a copy of this venv's site-packages (symlinks) minus one distribution: the venv
as it is after ``pip uninstall dist``, without touching the venv.
"""

from __future__ import annotations

import importlib.metadata as md
import os
import shutil
import subprocess
import sys
import sysconfig
import textwrap
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib


def install_source(project: Path, site: Path) -> Path:
    meta = tomllib.loads((project / "pyproject.toml").read_text())
    proj = meta["project"]
    packages = meta.get("tool", {}).get("hatch", {}).get("build", {}).get("targets", {}).get("wheel", {}).get(
        "packages") or [proj["name"].replace("-", "_")]
    site.mkdir(parents=True, exist_ok=True)
    for pkg in packages:
        shutil.copytree(project / pkg, site / Path(pkg).name, ignore=shutil.ignore_patterns("__pycache__"))
    info = site / f"{proj['name'].replace('-', '_')}-{proj['version']}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {proj['name']}\nVersion: {proj['version']}\n")
    groups = proj.get("entry-points", {})
    (info / "entry_points.txt").write_text("".join(
        f"[{group}]\n" + "".join(f"{k} = {v}\n" for k, v in points.items()) for group, points in groups.items()))
    (info / "top_level.txt").write_text("".join(f"{Path(p).name}\n" for p in packages))
    return site


def _owned_entries(dist: str) -> set[str]:
    """Top-level names in site-packages that belong to an installed distribution (empty if not installed)."""
    try:
        d = md.distribution(dist)
    except md.PackageNotFoundError:
        return set()
    names = {Path(str(f)).parts[0] for f in (d.files or []) if not str(f).startswith("..")}
    norm = dist.replace("-", "_")
    names |= {p.name for p in Path(sysconfig.get_paths()["purelib"]).iterdir() if norm in p.name}
    return names


def site_without(dist: str, into: Path) -> Path:
    purelib = Path(sysconfig.get_paths()["purelib"])
    skip = _owned_entries(dist)
    into.mkdir(parents=True, exist_ok=True)
    for entry in purelib.iterdir():
        if entry.name not in skip:
            os.symlink(entry, into / entry.name)
    return into


def run_with_sites(sites: list[Path], code: str, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh interpreter (-S: no site-packages) whose sys.path has only ``sites`` (.pth processed)
    besides the standard library; ``args`` become sys.argv[1:]."""
    boot = "import site, sys\n" + "".join(f"site.addsitedir({str(s)!r})\n" for s in sites)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["TF_CPP_MIN_LOG_LEVEL"] = "3"
    return subprocess.run([sys.executable, "-S", "-c", boot + textwrap.dedent(code), *args], capture_output=True,
                          text=True, env=env, timeout=timeout, cwd=str(sites[0]))


ZOO_MAIN = "import sys\nfrom zoo_core.cli import main\nsys.exit(main(sys.argv[1:]))\n"


def zoo_with_sites(sites: list[Path], *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    """Run the ``zoo`` command in an interpreter that sees only ``sites``."""
    return run_with_sites(sites, ZOO_MAIN, *args, timeout=timeout)
