"""Create ./.venv and install the locked dependencies, using only the standard library.

Runs on a fresh Debian machine that has `python3` and nothing else: Debian ships `venv` without
`ensurepip` (that lives in the separate python3-venv package), so when `python3 -m venv` cannot
seed pip we create the environment without it and install a pinned, hash-checked pip wheel from
the package index. Every dependency then comes from `requirements.lock`, installed with
`--require-hashes`, and the install is skipped while the lock file is unchanged.
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
import tempfile
import urllib.parse
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv"
LOCK = ROOT / "requirements.lock"
STAMP = VENV / ".keepgate-lock.sha256"
PIP_WHEEL = "pip-25.3-py3-none-any.whl"
PIP_SHA256 = "9655943313a94722b7774661c21049070f6bbb0a1516bf02f7c8d5d9201514cd"
INDEX = os.environ.get("KEEPGATE_BOOTSTRAP_INDEX", "https://pypi.org/simple")


def venv_python() -> Path:
    return VENV / "bin" / "python"


def run(*cmd: str | Path) -> None:
    """Run quietly; show the tool's own output only if it fails."""
    done = subprocess.run([str(c) for c in cmd], capture_output=True, text=True)
    if done.returncode != 0:
        sys.stdout.write(done.stdout)
        sys.stderr.write(done.stderr)
        sys.exit(f"bootstrap: {' '.join(str(c) for c in cmd[:4])} ... failed")


def has_pip() -> bool:
    probe = subprocess.run([str(venv_python()), "-m", "pip", "--version"], capture_output=True)
    return probe.returncode == 0


def seed_pip_from_index() -> None:
    """Install pip into a pip-less venv from a pinned wheel, verified by its SHA-256."""
    page = urllib.request.urlopen(f"{INDEX}/pip/", timeout=60).read().decode()
    match = re.search(r'href="([^"#]*' + re.escape(PIP_WHEEL) + r')[^"]*"', page)
    if not match:
        sys.exit(f"bootstrap: {PIP_WHEEL} not found on {INDEX}")
    url = urllib.parse.urljoin(f"{INDEX}/pip/", match.group(1))
    data = urllib.request.urlopen(url, timeout=120).read()
    if hashlib.sha256(data).hexdigest() != PIP_SHA256:
        sys.exit("bootstrap: the pip wheel's SHA-256 does not match the pinned value")
    with tempfile.TemporaryDirectory() as tmp:
        wheel = Path(tmp) / PIP_WHEEL
        wheel.write_bytes(data)
        # A wheel is importable as a zip: pip installs itself from its own wheel.
        run(venv_python(), str(wheel / "pip"), "install", "--no-index", "--quiet", str(wheel))


def ensure_venv() -> None:
    if venv_python().exists() and has_pip():
        return
    if not venv_python().exists():
        seeded = subprocess.run([sys.executable, "-m", "venv", str(VENV)], capture_output=True)
        if seeded.returncode != 0:
            print("bootstrap: ensurepip is unavailable; seeding pip from the package index")
            run(sys.executable, "-m", "venv", "--without-pip", "--clear", VENV)
    if not has_pip():
        seed_pip_from_index()


def install_locked() -> None:
    digest = hashlib.sha256(LOCK.read_bytes()).hexdigest()
    if STAMP.exists() and STAMP.read_text().strip() == digest:
        return
    print("bootstrap: installing locked dependencies into .venv")
    run(venv_python(), "-m", "pip", "install", "--quiet", "--require-hashes", "--no-deps",
        "-r", LOCK)
    run(venv_python(), "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
        "--editable", ROOT)
    STAMP.write_text(digest + "\n")


def main() -> None:
    if sys.version_info < (3, 11):  # noqa: UP036 (runs under whatever python3 the machine has)
        sys.exit("Keepgate needs Python 3.11 or newer")
    ensure_venv()
    install_locked()


if __name__ == "__main__":
    main()
