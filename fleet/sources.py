"""The simulator's own source files: where the package lives and a digest of
them. The digest keys the numba cache (memory/jit.py) and the code fingerprint
every result records (results/provenance.py); this module does not import
numba, so the results layer can use it without loading the compiler."""

import hashlib
from collections.abc import Iterable
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent


def tree_digest(roots: Iterable[Path], suffixes: tuple[str, ...] = (".py",)) -> str:
    """The first 16 hex digits of a sha256 over the files under `roots` with
    one of `suffixes`, each with its path relative to its root's parent."""
    digest = hashlib.sha256()
    for root in roots:
        for path in sorted(root.rglob("*")):
            if path.suffix in suffixes and "__pycache__" not in path.parts:
                digest.update(f"{path.relative_to(root.parent)}\0".encode())
                digest.update(path.read_bytes())
    return digest.hexdigest()[:16]
