"""The kernels' numba cache is keyed by the package's sources, so a change in
one file cannot leave a stale kernel compiled with it in another."""

from numba import config

from fleet import host
from fleet.memory import checker, page_alloc
from fleet.memory.jit import PACKAGE_DIR, tree_digest
from fleet.workload import random_mix


def write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_tree_digest_follows_every_source_file_and_nothing_else(tmp_path):
    root = tmp_path / "pkg"
    write(root / "a.py", "A = 1\n")
    write(root / "sub" / "b.py", "B = 2\n")
    first = tree_digest([root])
    write(root / "notes.txt", "not a source")
    write(root / "__pycache__" / "stale.py", "compiled leftovers")
    assert tree_digest([root]) == first
    write(root / "sub" / "b.py", "B = 3\n")
    changed = tree_digest([root])
    assert changed != first
    write(root / "sub" / "b.py", "B = 2\n")
    assert tree_digest([root]) == first
    write(root / "sub" / "c.py", "")
    assert tree_digest([root]) not in (first, changed)


def test_every_kernel_caches_under_the_digest_of_the_current_sources():
    expected = f"kernels-{tree_digest([PACKAGE_DIR])}"
    assert config.CACHE_DIR.endswith(expected)
    dispatchers = (page_alloc.alloc_pages, checker._check, random_mix.churn, host._touch)
    for dispatcher in dispatchers:
        assert dispatcher._cache._cache_path.startswith(config.CACHE_DIR)
