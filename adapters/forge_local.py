"""A local repository's objects copied into a mirror as files, the way ``git clone`` of a
local path does.

A fetch from a local path through dulwich reads every object the mirror lacks and writes
them all into a new pack: a third of a catch-up walk. Copying the remote's loose objects
and packs instead leaves the fetch that follows nothing to write (it still reads the refs
and checks that the mirror has the head). Loose objects are listed before packs, so a
repack running meanwhile cannot hide an object from both lists; a pack whose index does
not match it is refused. Over HTTP nothing here applies.
"""

from __future__ import annotations

import os
import shutil
from typing import Any

from dulwich.pack import Pack

__all__ = ["copy_objects"]


def copy_objects(remote: str, objects: str, mirror: str, object_format: Any = None) -> bool:
    """Copy what the bare repository *remote* has and the *objects* directory lacks.

    *mirror* is the mirror repository (packs are staged in it before they are renamed in);
    *object_format* the mirror's object format where dulwich has one (1.x; None before).
    Returns whether anything was copied (the mirror's object store must then be opened
    again to see new packs).

    Raises:
        OSError: a file could not be read or written (a repack removed it meanwhile).
        ChecksumMismatch, AssertionError: a pack and its index do not match.
    """
    source = os.path.join(remote, "objects")
    if not os.path.isdir(source):
        return False  # not a bare repository: the fetch names the problem
    loose = [
        os.path.join(d, name)
        for d in os.listdir(source)
        if len(d) == 2 and os.path.isdir(os.path.join(source, d))
        for name in os.listdir(os.path.join(source, d))
    ]
    pack_dir = os.path.join(source, "pack")
    names = set(os.listdir(pack_dir)) if os.path.isdir(pack_dir) else set()
    packs = [n[: -len(".pack")] for n in sorted(names) if n.endswith(".pack")]
    copied = False
    for rel in loose:
        if not os.path.exists(os.path.join(objects, rel)):
            _copy_file(os.path.join(source, rel), os.path.join(objects, rel))
            copied = True
    for base in packs:
        target = os.path.join(objects, "pack", base)
        if base + ".idx" in names and not os.path.exists(target + ".pack"):
            staging = os.path.join(mirror, "incoming")
            _copy_pack(os.path.join(pack_dir, base), target, staging, object_format)
            copied = True
    return copied


def _copy_pack(source: str, target: str, staging: str, object_format: Any) -> None:
    """Copy a pack and its index into *staging*, check them, then rename them in."""
    os.makedirs(staging, exist_ok=True)
    staged = os.path.join(staging, os.path.basename(target))
    shutil.copyfile(source + ".pack", staged + ".pack")
    shutil.copyfile(source + ".idx", staged + ".idx")
    # dulwich 1.x wants the object format (sha1/sha256); 0.24, the floor, has none.
    formats = {} if object_format is None else {"object_format": object_format}
    with Pack(staged, **formats) as pack:
        pack.check_length_and_checksum()
    os.replace(staged + ".pack", target + ".pack")
    os.replace(staged + ".idx", target + ".idx")


def _copy_file(source: str, target: str) -> None:
    """Copy *source* to *target* whole or not at all (a temporary name, then a rename)."""
    os.makedirs(os.path.dirname(target), exist_ok=True)
    staged = f"{target}.tmp{os.getpid()}"
    shutil.copyfile(source, staged)
    os.replace(staged, target)
