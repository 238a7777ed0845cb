"""Small helpers shared by the harness modules."""

import contextlib
import fcntl
import hashlib
import os
import pathlib
import sys


class HarnessError(Exception):
    """A failure of the harness or of a scenario; always reported as FAIL, never as a skip."""


def cache_dir() -> pathlib.Path:
    """~/.cache/cloak (or $CLOAK_CACHE_DIR), created on first use."""
    base = os.environ.get("CLOAK_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "cloak")
    path = pathlib.Path(base)
    path.mkdir(parents=True, exist_ok=True)
    return path


@contextlib.contextmanager
def locked(path: pathlib.Path):
    """Holds an exclusive flock on `path` so that concurrent runs share one cache safely."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def sha256_file(path, hasher=None):
    hasher = hasher or hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            hasher.update(chunk)
    return hasher


def parse_size(text) -> int:
    """'64M', '1G', '4096' -> bytes (binary units)."""
    if isinstance(text, int):
        return text
    text = text.strip().upper().removesuffix("IB").removesuffix("B")
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    if text and text[-1] in units:
        return int(text[:-1]) * units[text[-1]]
    return int(text)


def say(message: str) -> None:
    print(message, flush=True)


def warn(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


CHUNK = 8 << 20  # scan_file reads this much at a time


def scan_file(path, needles: dict[str, bytes], limit: int | None = None) -> dict[str, list[int]]:
    """Offsets of every needle in the file (the first `limit` of each when given), labelled
    as in `needles`; labels with none are absent. One pass over the file's data extents:
    holes read as zeros and are skipped."""
    hits: dict[str, set[int]] = {}
    unique: dict[bytes, list[str]] = {}
    for label, needle in needles.items():
        unique.setdefault(needle, []).append(label)
    overlap = max(len(n) for n in unique) - 1
    with open(path, "rb") as handle:
        fd = handle.fileno()
        size = os.fstat(fd).st_size
        pos = 0
        while pos < size:
            try:
                pos = os.lseek(fd, pos, os.SEEK_DATA)
            except OSError:
                break  # only holes remain
            end = os.lseek(fd, pos, os.SEEK_HOLE)
            while pos < end:
                data = os.pread(fd, min(CHUNK, end - pos) + overlap, pos)
                for needle, labels in unique.items():
                    start = 0
                    while (i := data.find(needle, start)) >= 0:
                        for label in labels:
                            found = hits.setdefault(label, set())
                            if limit is None or len(found) < limit:
                                found.add(pos + i)
                        start = i + 1
                pos += min(CHUNK, end - pos)
    return {label: sorted(found) for label, found in hits.items()}
