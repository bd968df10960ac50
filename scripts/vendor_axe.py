"""Fetch the pinned axe-core release for the browser suite's accessibility checks.

``npm pack`` downloads the package tarball from the registry; its SHA-512 must equal the
integrity pinned here (the registry's ``dist.integrity``) before ``axe.min.js`` is copied out
of it to ``tests/browser/vendor/``. Run by .ci/run; run it by hand before ``-m browser``.
To update: change VERSION and INTEGRITY to ``npm view axe-core@X dist.integrity``.
"""

from __future__ import annotations

import base64
import hashlib
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

VERSION = "4.10.3"
INTEGRITY = ("sha512-Xm7bpRXnDSX2YE2YFfBk2FnF0ep6tmG7xPh8iHee8MIcrgq762Nkce856dYtJYLkuIoYZvGfTs"
             "/PbZhideTcEg==")
TARGET = Path(__file__).resolve().parents[1] / "tests" / "browser" / "vendor" / "axe.min.js"


def pack(folder: Path) -> Path:
    """The package tarball, as the registry serves it."""
    subprocess.run(["npm", "pack", f"axe-core@{VERSION}", "--silent"], cwd=folder, check=True,
                   stdout=subprocess.DEVNULL)
    return folder / f"axe-core-{VERSION}.tgz"


def check_integrity(tarball: Path) -> None:
    digest = base64.b64encode(hashlib.sha512(tarball.read_bytes()).digest()).decode()
    if f"sha512-{digest}" != INTEGRITY:
        sys.exit(f"axe-core {VERSION}: integrity mismatch (got sha512-{digest})")


def main() -> None:
    with tempfile.TemporaryDirectory() as scratch:
        tarball = pack(Path(scratch))
        check_integrity(tarball)
        with tarfile.open(tarball) as archive:
            member = archive.extractfile("package/axe.min.js")
            if member is None:
                sys.exit(f"axe-core {VERSION}: the tarball has no axe.min.js")
            TARGET.parent.mkdir(parents=True, exist_ok=True)
            TARGET.write_bytes(member.read())
    print(f"axe-core {VERSION} -> {TARGET.relative_to(Path.cwd())}")


if __name__ == "__main__":
    main()
