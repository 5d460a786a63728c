"""Landing zones: one read-only interface over a local folder and an S3 prefix.

One cursor-based sensor serves both: it lists the zone, checks ready markers and hashes files
without knowing where they live.

    zone = landing_zone("s3://bucket/incoming")        # or "/data/landing", "file:///data/landing"
    for f in zone.list("customers/*.csv"):             # recursive, sorted by relpath
        if not is_temporary(f.relpath) and zone.exists(f.relpath + ".done"):
            digest = zone.sha256(f)

For the sensors a landing zone is READ-ONLY: they never write, move, rename or delete anything
in it. The one write, `put`, is the producers' side: the platform's own pull sources (an API
or SQL extract) and `dq-platform produce-events` deliver files into the zone as any upstream
system would, atomically (a local file appears by rename, an S3 object when its upload
completes), so a sensor never lists a half-written file. Temporary and incomplete files are
listed like any other; the sensor filters them with `is_temporary`.

Patterns are `fnmatch` globs on the relpath, matched case-sensitively on every platform: `*`
and `?` also match "/", so "customers/*.csv" matches "customers/2024/a.csv" too, and
"sales_*.csv" matches only files at the root (whose relpath starts with "sales_").
"""

from __future__ import annotations

import fnmatch
import hashlib
import os
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit
from urllib.request import url2pathname

from dq_platform.io.s3 import s3_client, sse_extra_args

CHUNK = 8 << 20  # 8 MiB: hashing reads this much at a time, whatever the file's size

TEMPORARY_SUFFIXES = (".tmp", ".part", ".partial", ".crdownload", ".filepart", "~", ".done")
HIDDEN_PREFIXES = (".", "_")


@dataclass(frozen=True)
class LandingFile:
    uri: str  # "file:///abs/path/customers/a.csv" or "s3://bucket/prefix/customers/a.csv"
    relpath: str  # relative to the landing root, "/"-separated: "customers/a.csv"
    size: int
    mtime: float  # seconds since the epoch (S3: LastModified)
    etag: str | None = None  # S3 ETag without quotes; None for local files


class LandingFileChanged(RuntimeError):
    """The file changed (or vanished) between listing and hashing: list again on the next tick."""


def is_temporary(relpath: str) -> bool:
    """True for files a sensor must not pick up (yet), by name alone.

    - incomplete uploads/downloads and editor backups: *.tmp, *.part, *.partial, *.crdownload,
      *.filepart, *~ (suffixes matched case-insensitively);
    - ready markers: *.done;
    - hidden names: any path component starting with "." or "_" (dot files, `_SUCCESS`,
      Spark/Hadoop `_temporary/` folders, `.staging/`).
    """
    parts = [p for p in relpath.replace("\\", "/").split("/") if p]
    if not parts:
        return True
    if any(p.startswith(HIDDEN_PREFIXES) for p in parts):
        return True
    return parts[-1].lower().endswith(TEMPORARY_SUFFIXES)


def _check_relpath(relpath: str) -> str:
    """A normalized "/"-separated relpath that cannot leave the landing root."""
    rel = relpath.replace("\\", "/")
    parts = [p for p in rel.split("/") if p not in ("", ".")]
    if rel.startswith("/") or ".." in parts or not parts:
        raise ValueError(f"'{relpath}' is not a path relative to the landing root")
    return "/".join(parts)


def _literal_prefix(pattern: str | None) -> str:
    """The part of a glob before its first wildcard: every match starts with it."""
    if not pattern:
        return ""
    m = re.search(r"[*?\[]", pattern)
    return pattern if m is None else pattern[: m.start()]


def _matches(relpath: str, pattern: str | None) -> bool:
    return pattern is None or fnmatch.fnmatchcase(relpath, pattern)


class LandingZone:
    """Read-only view of a landing zone. Implementations: LocalLandingZone, S3LandingZone."""

    root: str

    def list(self, pattern: str | None = None) -> list[LandingFile]:
        """Every file under the root (recursive), sorted by relpath; never "directories".

        `pattern` is an fnmatch glob on the relpath ("customers/*.csv", "sales_*.csv").
        """
        raise NotImplementedError

    def exists(self, relpath: str) -> bool:
        """Whether a file exists at relpath (ready markers: "customers/a.csv.done", "customers/_SUCCESS")."""
        raise NotImplementedError

    def sha256(self, f: LandingFile) -> str:
        """Hex sha256 of the file's bytes, streamed in 8 MiB chunks (constant memory).

        `f` must come from this zone's list(). Raises LandingFileChanged when the bytes would not
        be the listed file's (it is gone; its size differs; local: its mtime differs; S3: its ETag
        differs, checked by the server with If-Match), so a file is never identified by content
        it did not have when listed: list again on the next tick.
        """
        raise NotImplementedError

    def uri(self, relpath: str) -> str:
        """The URI of relpath in this zone (what landing.describe/archive/read_source take)."""
        raise NotImplementedError

    def put(self, relpath: str, data: bytes) -> str:
        """Deliver a file (producers only; sensors never call it), atomically; returns its URI.

        An existing file at relpath is replaced.
        """
        raise NotImplementedError

    def put_file(self, relpath: str, local_path: str | os.PathLike) -> str:
        """Deliver a local file like `put`, streamed (a large extract never sits whole in memory)."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.root!r})"


class LocalLandingZone(LandingZone):
    """A local folder (created if missing; nothing inside it is ever modified).

    `root` is the folder's absolute path. Symlinked files are listed; symlinked folders are not
    followed (no cycles). Files that vanish while listing are skipped.
    """

    def __init__(self, root: str | os.PathLike):
        s = os.fspath(root)
        if s.startswith("file://"):
            s = url2pathname(urlsplit(s).path)
        path = Path(s).expanduser().resolve()
        path.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.root = str(path)

    def uri(self, relpath: str) -> str:
        return (self.path / _check_relpath(relpath)).as_uri()

    def list(self, pattern: str | None = None) -> list[LandingFile]:
        # walk only the folder every match must be under ("customers/" for "customers/*.csv")
        start_rel = _literal_prefix(pattern).rpartition("/")[0]
        if any(p in ("", ".", "..") for p in start_rel.split("/")):
            start_rel = ""  # not a canonical relpath folder: walk everything, let fnmatch decide
        start = self.path / start_rel if start_rel else self.path
        out: list[LandingFile] = []
        stack = [(start, start_rel)]
        while stack:
            folder, rel_folder = stack.pop()
            try:
                entries = list(os.scandir(folder))
            except (FileNotFoundError, NotADirectoryError):
                continue  # vanished meanwhile, or the pattern's folder does not exist
            for entry in entries:
                rel = f"{rel_folder}/{entry.name}" if rel_folder else entry.name
                try:
                    if entry.is_dir(follow_symlinks=False):
                        stack.append((Path(entry.path), rel))
                        continue
                    if not entry.is_file() or not _matches(rel, pattern):
                        continue
                    st = entry.stat()
                except FileNotFoundError:
                    continue
                out.append(LandingFile(uri=Path(entry.path).as_uri(), relpath=rel, size=st.st_size, mtime=st.st_mtime))
        out.sort(key=lambda f: f.relpath)
        return out

    def exists(self, relpath: str) -> bool:
        return (self.path / _check_relpath(relpath)).is_file()

    def put(self, relpath: str, data: bytes) -> str:
        target = self.path / _check_relpath(relpath)
        target.parent.mkdir(parents=True, exist_ok=True)
        # a hidden temporary name in the same folder (is_temporary), then one atomic rename
        tmp = target.with_name(f".{target.name}.{os.getpid()}.{threading.get_ident()}.part")
        try:
            tmp.write_bytes(data)
            os.replace(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)
        return target.as_uri()

    def put_file(self, relpath: str, local_path: str | os.PathLike) -> str:
        import shutil

        target = self.path / _check_relpath(relpath)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.{os.getpid()}.{threading.get_ident()}.part")
        try:
            shutil.copyfile(local_path, tmp)
            os.replace(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)
        return target.as_uri()

    def sha256(self, f: LandingFile) -> str:
        rel = _check_relpath(f.relpath)
        if f.uri != self.uri(rel):
            raise ValueError(f"{f.uri} is not {f.relpath} of the landing zone {self.root}")
        h, size = hashlib.sha256(), 0
        buf = bytearray(CHUNK)
        view = memoryview(buf)
        try:
            with open(self.path / rel, "rb", buffering=0) as fh:
                st = os.fstat(fh.fileno())
                if (st.st_size, st.st_mtime) != (f.size, f.mtime):
                    raise LandingFileChanged(f"{f.uri} changed since it was listed (size or mtime)")
                while n := fh.readinto(buf):
                    h.update(view[:n])
                    size += n
        except FileNotFoundError:
            raise LandingFileChanged(f"{f.uri} is gone since it was listed") from None
        if size != f.size:  # still being written while we read it
            raise LandingFileChanged(f"{f.uri} changed while it was read ({f.size} -> {size} bytes)")
        return h.hexdigest()


class S3LandingZone(LandingZone):
    """An S3 prefix ("s3://bucket" or "s3://bucket/prefix"), read through a boto3 client.

    Sensors only read (ListObjectsV2, HeadObject, GetObject); producers deliver with PutObject. The endpoint comes from
    AWS_ENDPOINT_URL (S3-compatible stores, a loopback test server; path-style addressing then,
    as pyarrow's S3FileSystem in files.filesystem uses), credentials and region from the
    standard AWS variables/config. Keys ending in "/" (console "folders") and Hadoop
    "_$folder$" markers are not files and are never listed. `page_size` is the ListObjectsV2
    page size (S3 caps it at 1000); listing follows every page.
    """

    def __init__(self, root: str, page_size: int = 1000, client=None):
        if not root.startswith("s3://"):
            raise ValueError(f"'{root}' is not an s3:// URI")
        bucket, _, prefix = root.removeprefix("s3://").partition("/")
        if not bucket:
            raise ValueError(f"'{root}' names no bucket")
        prefix = prefix.strip("/")
        self.bucket = bucket
        self.prefix = f"{prefix}/" if prefix else ""
        self.root = f"s3://{bucket}/{prefix}" if prefix else f"s3://{bucket}"
        if not 1 <= page_size <= 1000:
            raise ValueError(f"page_size must be within 1..1000, not {page_size}")
        self.page_size = page_size
        self._client = client

    @property
    def client(self):
        """The boto3 S3 client (created on first use from the environment at that time)."""
        if self._client is None:
            self._client = s3_client()
        return self._client

    def uri(self, relpath: str) -> str:
        return f"s3://{self.bucket}/{self.prefix}{_check_relpath(relpath)}"

    def put(self, relpath: str, data: bytes) -> str:
        key = self.prefix + _check_relpath(relpath)
        self.client.put_object(Bucket=self.bucket, Key=key, Body=data, **sse_extra_args())
        return f"s3://{self.bucket}/{key}"

    def put_file(self, relpath: str, local_path: str | os.PathLike) -> str:
        key = self.prefix + _check_relpath(relpath)
        # boto3's managed transfer: multipart for large files; the object appears when it completes
        self.client.upload_file(os.fspath(local_path), self.bucket, key, ExtraArgs=sse_extra_args() or None)
        return f"s3://{self.bucket}/{key}"

    def list(self, pattern: str | None = None) -> list[LandingFile]:
        paginator = self.client.get_paginator("list_objects_v2")
        pages = paginator.paginate(
            Bucket=self.bucket,
            Prefix=self.prefix + _literal_prefix(pattern),
            PaginationConfig={"PageSize": self.page_size},
        )
        out: list[LandingFile] = []
        n = len(self.prefix)
        for page in pages:
            for obj in page.get("Contents", ()):
                key = obj["Key"]
                if key.endswith("/") or key.endswith("_$folder$"):
                    continue  # "directories"
                rel = key[n:]
                if not rel or not _matches(rel, pattern):
                    continue
                etag = obj.get("ETag")
                out.append(
                    LandingFile(
                        uri=f"s3://{self.bucket}/{key}",
                        relpath=rel,
                        size=int(obj["Size"]),
                        mtime=obj["LastModified"].timestamp(),
                        etag=etag.strip('"') if etag else None,
                    )
                )
        out.sort(key=lambda f: f.relpath)
        return out

    def exists(self, relpath: str) -> bool:
        from botocore.exceptions import ClientError

        key = self.prefix + _check_relpath(relpath)
        try:
            self.client.head_object(Bucket=self.bucket, Key=key)
            return True
        except ClientError as e:
            if _error_code(e) in ("404", "NoSuchKey", "NotFound"):
                return False
            raise

    def sha256(self, f: LandingFile) -> str:
        from botocore.exceptions import ClientError

        key = self.prefix + f.relpath  # as listed (S3 keys may hold "//" or "./", which uri() refuses)
        if f.uri != f"s3://{self.bucket}/{key}":
            raise ValueError(f"{f.uri} is not {f.relpath} of the landing zone {self.root}")
        kwargs = {"IfMatch": f'"{f.etag}"'} if f.etag else {}
        try:
            body = self.client.get_object(Bucket=self.bucket, Key=key, **kwargs)["Body"]
        except ClientError as e:
            code = _error_code(e)
            if code in ("404", "NoSuchKey", "NotFound"):
                raise LandingFileChanged(f"{f.uri} is gone since it was listed") from None
            if code in ("412", "PreconditionFailed"):
                raise LandingFileChanged(f"{f.uri} was replaced since it was listed (ETag {f.etag})") from None
            raise
        h, size = hashlib.sha256(), 0
        try:
            for chunk in body.iter_chunks(CHUNK):
                h.update(chunk)
                size += len(chunk)
        finally:
            body.close()
        if size != f.size:
            raise LandingFileChanged(f"{f.uri} changed since it was listed ({f.size} -> {size} bytes)")
        return h.hexdigest()


def _error_code(e) -> str:
    return str(e.response.get("Error", {}).get("Code", ""))


def landing_zone(uri: str | os.PathLike) -> LandingZone:
    """ "s3://bucket/prefix" -> S3LandingZone; a folder path or file:// URI -> LocalLandingZone."""
    s = os.fspath(uri)
    if s.startswith("s3://"):
        return S3LandingZone(s)
    scheme = s.split("://", 1)[0] if "://" in s else ""
    if scheme and scheme != "file":
        raise ValueError(f"unsupported landing zone '{s}': use a folder, file:// or s3://")
    return LocalLandingZone(s)
