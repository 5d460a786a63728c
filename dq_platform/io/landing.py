"""Source files: identity (checksum -> partition key) and archiving.

A partition is one file's content: `<file name>@<first 12 hex of its sha256>` (16 before: still read). The bytes are
copied once into the warehouse's content-addressed archive (`_sources/<dataset>/<sha256>/`),
so every partition can be re-run from the UI and every original stays retrievable even if the
landing file is later replaced. The landing zone itself is never modified.

Parsing a source file into raw rows is `readers.read_source`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote

import pyarrow.fs as pafs

from dq_platform.io.files import _uri, filesystem
from dq_platform.io.s3 import upload

KEY_SEP = "@"  # the partition key's separator: <file name>@<12 hex of sha256>
# A partition key is the file name + this many hex of its sha256: readable in the UI, and unique
# enough per dataset; the full checksum is in the run tags (dq/checksum) and raw's metadata.
KEY_HEX = 12


class SourceFileError(ValueError):
    """A file that cannot be read at all; the message names the file, the line and why."""


@dataclass(frozen=True)
class SourceFile:
    dataset: str
    name: str
    sha256: str
    size: int
    uri: str  # where it was found (landing zone)

    @property
    def content_id(self) -> str:
        """The checksum prefix in its partition key: what makes two files the same content."""
        return self.sha256[:KEY_HEX]

    @property
    def partition_key(self) -> str:
        return f"{self.name}{KEY_SEP}{self.content_id}"


def sha256_of(uri: str) -> tuple[str, int]:
    fs, path = filesystem(_uri(uri))
    h, size = hashlib.sha256(), 0
    with fs.open_input_stream(path) as f:
        while chunk := f.read(8 << 20):
            h.update(chunk)
            size += len(chunk)
    return h.hexdigest(), size


def describe(dataset: str, path_or_uri: str | Path) -> SourceFile:
    sha, size = sha256_of(str(path_or_uri))
    name = str(path_or_uri).rstrip("/").rsplit("/", 1)[-1]
    if str(path_or_uri).startswith("file://"):
        name = unquote(name)  # same file, same name, whether given as a path or a file:// URI
    return SourceFile(dataset=dataset, name=name, sha256=sha, size=size, uri=_uri(path_or_uri))


def split_partition_key(key: str) -> tuple[str, str]:
    """(file name, checksum prefix); keys made before the prefix was shortened (16 hex) still work."""
    name, _, sha = key.rpartition(KEY_SEP)
    if not name or len(sha) not in (KEY_HEX, 16):
        raise ValueError(f"'{key}' is not a source partition key (<file name>@<{KEY_HEX} hex of sha256>)")
    return name, sha


def archive_dir(warehouse_root: str, dataset: str) -> str:
    root = warehouse_root if "://" in warehouse_root else str(Path(warehouse_root).resolve())
    return f"{root.rstrip('/')}/_sources/{dataset}"


def archive(source: SourceFile, warehouse_root: str) -> str:
    """Copy the file into the content-addressed archive once; return the archived URI."""
    dest = f"{archive_dir(warehouse_root, source.dataset)}/{source.sha256}/{source.name}"
    dest_fs, dest_path = filesystem(_uri(dest))
    if dest_fs.get_file_info(dest_path).type == pafs.FileType.NotFound:
        src_fs, src_path = filesystem(source.uri)
        if dest.startswith("s3://"):  # encrypted like every object the platform writes (DQ_S3_SSE)
            with src_fs.open_input_stream(src_path) as fin:
                upload(fin, dest)
            return dest
        dest_fs.create_dir(dest_path.rsplit("/", 1)[0], recursive=True)
        tmp = dest_path + ".partial"
        with src_fs.open_input_stream(src_path) as fin, dest_fs.open_output_stream(tmp) as fout:
            while chunk := fin.read(8 << 20):
                fout.write(chunk)
        dest_fs.move(tmp, dest_path)
    return _uri(dest)


def find_archived(warehouse_root: str, dataset: str, partition_key: str) -> str:
    """The archived file behind a partition key."""
    name, sha16 = split_partition_key(partition_key)
    base = archive_dir(warehouse_root, dataset)
    fs, path = filesystem(_uri(base))
    infos = fs.get_file_info(pafs.FileSelector(path, allow_not_found=True))
    for info in infos:
        if info.base_name.startswith(sha16):
            candidate = f"{info.path}/{name}"
            if fs.get_file_info(candidate).type == pafs.FileType.File:
                return _uri(candidate) if "://" not in base else f"{base.split('://')[0]}://{candidate}"
    raise FileNotFoundError(
        f"no archived file for partition '{partition_key}' of {dataset} under {base}: "
        f"register it with `dq-platform ingest` (or drop it in the landing zone) first"
    )
