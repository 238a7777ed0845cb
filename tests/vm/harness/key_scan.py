"""Host-side scans for volume keys (invariants 1 and 3). The DEKs are unwrapped in this
process from the key service's SQLite store with its file KEK (the blob and KEK file
formats of docs/kms-crypto.md, "Wrapping at rest"), so a disk image can be searched for
them directly; they stay in memory and only their digests are ever printed. Also: the
encodings a leaked key could take, a self-check that the image scan (util.scan_file)
finds a planted key, and archives a guest prints on the console between marker lines."""

import base64
import contextlib
import gzip
import hashlib
import os
import pathlib
import sqlite3
import struct
import tempfile

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from .util import CHUNK, scan_file

WRAP_LABEL = b"cloak-wrap-v1"
KEK_MAGIC = b"CLOAKKEK"
KEK_ENTRY = struct.Struct(">IB32s")  # version, state, key


def _keks(kek_file: pathlib.Path) -> dict[int, bytes]:
    data = kek_file.read_bytes()
    if data[:8] != KEK_MAGIC or data[8] != 1:
        raise ValueError(f"{kek_file}: not a version 1 KEK file")
    (count,) = struct.unpack_from(">I", data, 9)
    body = data[:13 + KEK_ENTRY.size * count]
    if len(data) != len(body) + 32 or hashlib.sha256(body).digest() != data[len(body):]:
        raise ValueError(f"{kek_file}: length or checksum does not match")
    keks = {}
    for i in range(count):
        version, _state, key = KEK_ENTRY.unpack_from(data, 13 + KEK_ENTRY.size * i)
        keks[version] = key
    return keks


def store_deks(store: pathlib.Path, kek_file: pathlib.Path, volumes) -> dict[str, bytes]:
    """The DEK of each volume, unwrapped from the store (read-only) with the file KEK."""
    keks = _keks(kek_file)
    deks = {}
    with contextlib.closing(sqlite3.connect(f"file:{store}?mode=ro", uri=True)) as db:
        for volume in volumes:
            row = db.execute("SELECT wrapped_dek, key_id, key_version FROM volumes "
                             "WHERE volume_id = ?", (volume,)).fetchone()
            if row is None or row[0] is None:
                raise ValueError(f"no wrapped key for {volume} in {store}")
            blob, key_id, key_version = bytes(row[0]), row[1].encode(), row[2]
            if blob[0] != 1:
                raise ValueError(f"{volume}: wrapped key format {blob[0]}")
            (kek_version,) = struct.unpack_from(">I", blob, 1)
            aad = (blob[:5] + WRAP_LABEL + struct.pack(">I", len(key_id)) + key_id +
                   struct.pack(">I", key_version))
            deks[volume] = AESGCM(keks[kek_version]).decrypt(blob[5:17], blob[17:], aad)
    return deks


def _base64_cores(secret: bytes, encode) -> list[bytes]:
    """For each of the three alignments the secret can have inside a longer base64 text,
    the run of characters that depends on the secret's bytes alone."""
    cores = []
    for shift in range(3):
        text = encode(b"\0" * shift + secret)
        first = -(-shift // 3)  # the first group whose three bytes are all the secret's
        last = (shift + len(secret)) // 3  # one past the last such group
        cores.append(text[4 * first:4 * last])
    return cores


def key_encodings(secret: bytes) -> dict[str, bytes]:
    """The byte strings a leaked `secret` would show up as: raw, hex in either case, and
    base64 / base64url at any alignment (padded or not)."""
    found = {"raw": secret, "hex": secret.hex().encode(), "HEX": secret.hex().upper().encode()}
    for name, encode in (("base64", base64.b64encode), ("base64url", base64.urlsafe_b64encode)):
        for shift, core in enumerate(_base64_cores(secret, encode)):
            found[f"{name}+{shift}"] = core
    return found


def check_scan_finds_planted_key(ctx) -> None:
    """Self-check: a random 64-byte key planted in each encoding in a sparse file, one copy
    straddling a chunk boundary and one behind a hole, is found in every encoding."""
    secret = os.urandom(64)
    needles = key_encodings(secret)
    with tempfile.NamedTemporaryFile(dir=ctx.workdir, suffix=".plant") as plant:
        plant.truncate((len(needles) + 2) * CHUNK)
        for i, needle in enumerate(needles.values(), 1):
            for offset in (i * CHUNK - len(needle) // 2, i * CHUNK + CHUNK // 2 + 7):
                plant.seek(offset)
                plant.write(b"=" + base64.b64encode(os.urandom(6)) + needle + b"+/ \n")
        plant.flush()
        hits = scan_file(pathlib.Path(plant.name), needles)
    missed = [label for label in needles if len(hits.get(label, [])) < 2]
    if missed:
        ctx.fail(f"the image scan does not find a planted key encoded as {', '.join(missed)}")


def console_archive(ctx, boot, name: str) -> bytes:
    """The gzip'd archive a guest printed as `NAME-BEGIN <sha256>`, base64 lines,
    `NAME-END`; decompressed. Fails when the digest does not match (a console line was
    garbled) or the markers are missing."""
    lines, digest, inside = [], None, False
    for line in boot.output:
        if line.startswith(f"{name}-BEGIN "):
            digest, inside, lines = line.split()[1], True, []
        elif line.startswith(f"{name}-END"):
            inside = False
        elif inside:
            lines.append(line.strip())
    if digest is None or inside:
        ctx.fail(f"{boot.log.name}: no complete {name} archive on the console")
    packed = base64.b64decode("".join(lines))
    if hashlib.sha256(packed).hexdigest() != digest:
        ctx.fail(f"{boot.log.name}: the {name} archive was garbled on the console")
    return gzip.decompress(packed)
