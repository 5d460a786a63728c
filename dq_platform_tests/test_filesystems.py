"""Landing zones: the same tests against a local folder and a real S3 API server (moto, loopback).

No mocks of boto3, botocore or pyarrow: every S3 call goes over HTTP to the `s3_server` fixture.
"""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

import boto3
import pytest

from dq_platform.contract import parse_contract
from dq_platform.engine import rules
from dq_platform.io import landing, readers
from dq_platform.io.landing_zones import (
    LandingFile,
    LandingFileChanged,
    LocalLandingZone,
    S3LandingZone,
    is_temporary,
    landing_zone,
)

S3_PREFIX = "in/coming"


def s3_client(endpoint: str):
    return boto3.session.Session().client("s3", endpoint_url=endpoint, region_name="us-east-1")


class Local:
    """A landing folder and a way to drop files into it (what an upstream system does)."""

    kind = "local"

    def __init__(self, tmp_path: Path):
        self.base = tmp_path / "landing zone"  # a space: URIs must be proper file:// URIs
        self.zone = LocalLandingZone(self.base)

    def put(self, relpath: str, data: bytes) -> None:
        p = self.base / relpath
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)

    def mkdir(self, relpath: str) -> None:
        (self.base / relpath).mkdir(parents=True, exist_ok=True)

    def uri(self, relpath: str) -> str:
        return (self.base.resolve() / relpath).as_uri()

    def snapshot(self) -> dict[str, bytes]:
        return {
            str(p.relative_to(self.base)): (p.read_bytes() if p.is_file() else b"<dir>")
            for p in sorted(self.base.rglob("*"))
        }


class S3:
    """A prefix of a fresh bucket, with objects outside the prefix that must never show up."""

    kind = "s3"

    def __init__(self, endpoint: str, bucket: str, page_size: int = 1000):
        self.client = s3_client(endpoint)
        self.bucket = bucket
        self.zone = S3LandingZone(f"s3://{bucket}/{S3_PREFIX}", page_size=page_size)
        # neighbours: same string prefix without the "/", and the bucket root
        self.client.put_object(Bucket=bucket, Key=f"{S3_PREFIX}soon/customers/x.csv", Body=b"a,b\n")
        self.client.put_object(Bucket=bucket, Key="customers/y.csv", Body=b"a,b\n")

    def put(self, relpath: str, data: bytes) -> None:
        self.client.put_object(Bucket=self.bucket, Key=f"{S3_PREFIX}/{relpath}", Body=data)

    def mkdir(self, relpath: str) -> None:  # what the S3 console's "Create folder" does
        self.client.put_object(Bucket=self.bucket, Key=f"{S3_PREFIX}/{relpath.rstrip('/')}/", Body=b"")

    def uri(self, relpath: str) -> str:
        return f"s3://{self.bucket}/{S3_PREFIX}/{relpath}"

    def snapshot(self) -> dict[str, bytes]:
        out = {}
        for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket):
            for obj in page.get("Contents", ()):
                out[obj["Key"]] = self.client.get_object(Bucket=self.bucket, Key=obj["Key"])["Body"].read()
        return out


@pytest.fixture(params=["local", "s3"])
def env(request, tmp_path):
    if request.param == "local":
        return Local(tmp_path)
    return S3(request.getfixturevalue("s3_server"), request.getfixturevalue("s3_bucket"))


FILES = {
    "customers/a.csv": b"id,name\n1,ann\n",
    "customers/b.csv": b"id,name\n2,bob\n3,cy\n",
    "customers/2024/c.csv": b"id,name\n4,di\n",
    "customers/a.csv.done": b"",
    "customers/_SUCCESS": b"",
    "customers/notes.txt": b"not a csv",
    "customers/d.csv.part": b"id,na",
    "sales_2024.csv": b"tx\n1\n",
    "sales/x.csv": b"tx\n2\n",
    "other/sales_1.csv": b"tx\n3\n",
    "empty.csv": b"",
}


def populate(env) -> None:
    for rel, data in FILES.items():
        env.put(rel, data)
    env.mkdir("customers/empty_folder")
    env.mkdir("customers")  # S3: a "folder" key that is also a prefix of real objects


def rels(files: list[LandingFile]) -> list[str]:
    return [f.relpath for f in files]


def test_list_is_recursive_sorted_and_never_lists_directories(env):
    populate(env)
    assert rels(env.zone.list()) == sorted(FILES)


def test_list_with_glob_patterns(env):
    populate(env)
    z = env.zone
    # fnmatch: "*" also matches "/", so nested folders match too
    assert rels(z.list("customers/*.csv")) == ["customers/2024/c.csv", "customers/a.csv", "customers/b.csv"]
    assert rels(z.list("sales_*.csv")) == ["sales_2024.csv"]
    assert rels(z.list("*sales_*.csv")) == ["other/sales_1.csv", "sales_2024.csv"]
    assert rels(z.list("customers/?.csv")) == ["customers/a.csv", "customers/b.csv"]
    assert rels(z.list("customers/[ab].csv*")) == ["customers/a.csv", "customers/a.csv.done", "customers/b.csv"]
    assert rels(z.list("customers/a.csv")) == ["customers/a.csv"]  # no wildcard at all
    assert z.list("nothing/*.csv") == []
    assert z.list("Customers/*.csv") == []  # case-sensitive on every platform


def test_file_metadata(env):
    before = time.time()
    env.put("customers/a.csv", FILES["customers/a.csv"])
    (f,) = env.zone.list()
    assert f == LandingFile(
        uri=env.uri("customers/a.csv"),
        relpath="customers/a.csv",
        size=len(FILES["customers/a.csv"]),
        mtime=f.mtime,
        etag=f.etag,
    )
    assert before - 2 <= f.mtime <= time.time() + 2  # S3's LastModified has 1 s resolution
    if env.kind == "local":
        assert f.etag is None
        assert f.mtime == os.stat(env.base / "customers/a.csv").st_mtime
        assert f.uri.startswith("file:///") and "landing%20zone" in f.uri
        assert env.zone.root == str(env.base.resolve())
    else:
        head = env.client.head_object(Bucket=env.bucket, Key=f"{S3_PREFIX}/customers/a.csv")
        assert f.mtime == head["LastModified"].timestamp()
        assert f.etag == hashlib.md5(FILES["customers/a.csv"]).hexdigest() == head["ETag"].strip('"')
        assert env.zone.root == f"s3://{env.bucket}/{S3_PREFIX}"
    assert env.zone.uri("customers/a.csv") == f.uri


def test_exists_for_ready_markers(env):
    populate(env)
    z = env.zone
    assert z.exists("customers/a.csv.done")
    assert z.exists("customers/_SUCCESS")
    assert z.exists("customers/a.csv")
    assert not z.exists("customers/b.csv.done")
    assert not z.exists("sales/_SUCCESS")
    assert not z.exists("customers")  # a folder is not a file
    assert not z.exists("customers/empty_folder")
    for bad in ("../customers/a.csv", "/etc/passwd", "customers/../../x", ""):
        with pytest.raises(ValueError, match="not a path relative to the landing root"):
            z.exists(bad)


def test_sha256_is_hashlib_on_the_bytes(env):
    big = os.urandom(1024) * (8 * 1024 + 3)  # 8 MiB + 3 KiB: more than one 8 MiB chunk
    env.put("big/file.bin", big)
    populate(env)
    by_rel = {f.relpath: f for f in env.zone.list()}
    assert env.zone.sha256(by_rel["big/file.bin"]) == hashlib.sha256(big).hexdigest()
    for rel, data in FILES.items():
        assert env.zone.sha256(by_rel[rel]) == hashlib.sha256(data).hexdigest(), rel
    assert env.zone.sha256(by_rel["empty.csv"]) == hashlib.sha256(b"").hexdigest()


def test_sha256_refuses_a_file_changed_or_gone_since_listing(env):
    env.put("customers/a.csv", b"id\n1\n")
    (f,) = env.zone.list()
    env.put("customers/a.csv", b"id\n1\n2\n")  # replaced by the upstream system meanwhile
    with pytest.raises(LandingFileChanged, match="since it was listed"):
        env.zone.sha256(f)
    (g,) = env.zone.list()
    assert env.zone.sha256(g) == hashlib.sha256(b"id\n1\n2\n").hexdigest()
    time.sleep(0.05)  # local: a later mtime (coarse filesystem clocks); S3: the ETag differs anyway
    env.put("customers/a.csv", b"id\n1\n3\n")  # same size, other bytes: mtime / ETag tell
    with pytest.raises(LandingFileChanged, match="since it was listed"):
        env.zone.sha256(g)
    env.put("customers/b.csv", b"x")
    gone = [f for f in env.zone.list() if f.relpath == "customers/b.csv"][0]
    if env.kind == "local":
        (env.base / "customers/b.csv").unlink()
    else:
        env.client.delete_object(Bucket=env.bucket, Key=f"{S3_PREFIX}/customers/b.csv")
    with pytest.raises(LandingFileChanged, match="is gone since it was listed"):
        env.zone.sha256(gone)
    with pytest.raises(ValueError, match="is not customers/b.csv"):  # a file of another zone
        env.zone.sha256(LandingFile(uri=g.uri, relpath="customers/b.csv", size=g.size, mtime=g.mtime))


def test_landing_files_are_usable_by_landing_module(env):
    """The sensor hands LandingFile.uri to landing.describe: both must agree on the bytes."""
    env.put("customers/a.csv", FILES["customers/a.csv"])
    (f,) = env.zone.list()
    src = landing.describe("customers", f.uri)
    assert (src.sha256, src.size, src.uri, src.name) == (env.zone.sha256(f), f.size, f.uri, "a.csv")


def test_the_landing_zone_is_never_modified(env):
    populate(env)
    before = env.snapshot()
    z = env.zone
    for f in z.list():
        z.sha256(f)
        z.exists(f.relpath + ".done")
    z.list("customers/*.csv")
    assert env.snapshot() == before


def test_producers_put_files_atomically_and_replace_them(env):
    """`put` is the producers' side (extract jobs, produce-events): the file appears whole, once."""
    z = env.zone
    uri = z.put("crypto/markets_1.jsonl", b'{"id": "bitcoin"}\n')
    assert uri == z.uri("crypto/markets_1.jsonl")
    assert rels(z.list()) == ["crypto/markets_1.jsonl"]  # no temporary file is left behind
    z.put("crypto/markets_1.jsonl", b'{"id": "ether"}\n')
    (f,) = z.list()
    assert f.size == len(b'{"id": "ether"}\n')
    assert landing.describe("crypto", f.uri).sha256 == z.sha256(f)
    with pytest.raises(ValueError, match="not a path relative"):
        z.put("../outside.jsonl", b"x")


@pytest.mark.parametrize(
    "relpath, temporary",
    [
        ("customers/a.csv", False),
        ("a.csv", False),
        ("customers/2024/a.parquet", False),
        ("customers/a.csv.tmp", True),
        ("customers/a.csv.TMP", True),
        ("customers/a.csv.part", True),
        ("customers/a.csv.partial", True),
        ("customers/a.csv.crdownload", True),
        ("customers/a.csv.filepart", True),
        ("customers/a.csv~", True),
        ("customers/.a.csv", True),
        ("customers/.a.csv.swp", True),
        (".DS_Store", True),
        ("customers/_SUCCESS", True),
        ("customers/_a.csv", True),
        ("customers/a.csv.done", True),
        ("customers/_temporary/0/part-0000.csv", True),  # Spark/Hadoop staging folder
        ("customers/.staging/a.csv", True),
        ("customers/a_b.csv", False),
        ("customers/a.done.csv", False),
        ("customers/a.partition.csv", False),
    ],
)
def test_is_temporary(relpath, temporary):
    assert is_temporary(relpath) is temporary


def test_landing_zone_factory(tmp_path):
    z = landing_zone("s3://bucket/some/prefix/")
    assert isinstance(z, S3LandingZone)
    assert (z.root, z.bucket, z.prefix, z.page_size) == ("s3://bucket/some/prefix", "bucket", "some/prefix/", 1000)
    assert landing_zone("s3://bucket").root == "s3://bucket"
    assert landing_zone("s3://bucket").uri("a/b.csv") == "s3://bucket/a/b.csv"

    folder = tmp_path / "new" / "landing"
    z = landing_zone(str(folder))
    assert isinstance(z, LocalLandingZone) and folder.is_dir()  # created if missing
    assert z.root == str(folder.resolve())
    assert landing_zone(folder.as_uri()).root == z.root
    assert landing_zone(folder).root == z.root
    with pytest.raises(ValueError, match="unsupported landing zone"):
        landing_zone("gs://bucket/prefix")
    with pytest.raises(ValueError, match="names no bucket"):
        landing_zone("s3:///prefix")
    with pytest.raises(ValueError, match="page_size"):
        S3LandingZone("s3://bucket", page_size=1001)


def test_s3_bucket_root_without_prefix(s3_server, s3_bucket):
    c = s3_client(s3_server)
    for key in ("customers/a.csv", "customers/", "b.csv", "customers/_SUCCESS"):
        c.put_object(Bucket=s3_bucket, Key=key, Body=b"x" if not key.endswith("/") else b"")
    z = landing_zone(f"s3://{s3_bucket}")
    assert rels(z.list()) == ["b.csv", "customers/_SUCCESS", "customers/a.csv"]
    assert z.list("customers/*.csv")[0].uri == f"s3://{s3_bucket}/customers/a.csv"
    assert z.exists("customers/_SUCCESS")
    c.put_object(Bucket=s3_bucket, Key="odd//name.csv", Body=b"odd")  # legal S3 key, not a path
    (odd,) = z.list("odd*")
    assert odd.relpath == "odd//name.csv" and odd.uri == f"s3://{s3_bucket}/odd//name.csv"
    assert z.sha256(odd) == hashlib.sha256(b"odd").hexdigest()


# -- pagination ----------------------------------------------------------------------------

N_OBJECTS = 1050


@pytest.fixture(scope="module")
def many_objects(s3_server):
    """A bucket with 1,050 objects under the prefix (uploaded once for the module)."""
    import uuid

    c = s3_client(s3_server)
    bucket = f"dq-test-many-{uuid.uuid4().hex[:12]}"
    c.create_bucket(Bucket=bucket)
    rel = [f"customers/part-{i:05d}.csv" for i in range(N_OBJECTS - 10)] + [
        f"sales/part-{i:05d}.csv" for i in range(10)
    ]
    for r in rel:  # ~7 ms each on the loopback server (threads don't help: moto is GIL-bound)
        c.put_object(Bucket=bucket, Key=f"{S3_PREFIX}/{r}", Body=r.encode())
    c.put_object(Bucket=bucket, Key=f"{S3_PREFIX}soon/customers/outside.csv", Body=b"x")
    return bucket, sorted(rel)


def count_list_calls(zone: S3LandingZone) -> list[int]:
    """Instrument (not mock) the real client: one entry per ListObjectsV2 request sent."""
    calls: list[int] = []
    zone.client.meta.events.register("after-call.s3.ListObjectsV2", lambda **kw: calls.append(1))
    return calls


@pytest.mark.parametrize("page_size, requests", [(100, 11), (1000, 2)])
def test_s3_listing_follows_every_page(many_objects, page_size, requests):
    bucket, expected = many_objects
    zone = S3LandingZone(f"s3://{bucket}/{S3_PREFIX}", page_size=page_size)
    calls = count_list_calls(zone)
    files = zone.list()
    assert len(calls) == requests  # more than one page really was fetched
    assert rels(files) == expected  # all, each exactly once, sorted
    assert len({f.uri for f in files}) == N_OBJECTS
    assert all(f.size == len(f.relpath) for f in files)


def test_s3_pattern_narrows_the_listing_prefix(many_objects):
    bucket, expected = many_objects
    zone = S3LandingZone(f"s3://{bucket}/{S3_PREFIX}", page_size=100)
    calls = count_list_calls(zone)
    assert rels(zone.list("sales/*.csv")) == [r for r in expected if r.startswith("sales/")]
    assert len(calls) == 1  # only the sales/ prefix was listed, not 1,050 keys
    assert len(zone.list("customers/part-*.csv")) == N_OBJECTS - 10


# -- dq_platform.landing against the same S3 server -------------------------------------------


def t_contract():
    return parse_contract("""
name: t
description: t
owner: team:t
source: {pattern: "t/*.csv", format: csv}
columns: [{name: a, type: string}, {name: b, type: string}]
""")


CSV = b"a,b\n1,x\n2,y\n3\n"


def test_landing_describe_archive_and_read_source_on_s3(s3_server, s3_bucket, tmp_path):
    s3_client(s3_server).put_object(Bucket=s3_bucket, Key="in/t/file.csv", Body=CSV)
    uri = f"s3://{s3_bucket}/in/t/file.csv"
    sha = hashlib.sha256(CSV).hexdigest()

    src = landing.describe("t", uri)
    assert (src.dataset, src.name, src.sha256, src.size, src.uri) == ("t", "file.csv", sha, len(CSV), uri)
    assert src.partition_key == f"file.csv@{sha[:12]}"

    archived = landing.archive(src, warehouse_root=str(tmp_path))
    local = tmp_path / "_sources" / "t" / sha / "file.csv"
    assert archived == local.as_uri()
    assert local.read_bytes() == CSV
    assert landing.archive(src, warehouse_root=str(tmp_path)) == archived  # idempotent
    assert landing.find_archived(str(tmp_path), "t", src.partition_key) == archived

    df = readers.read_source(uri, t_contract())
    assert df["a"].tolist()[:2] == ["1", "2"]
    assert df[rules.RAW_RECORD].tolist()[2] == "3"  # the short row is kept whole, not lost
    assert df[rules.SOURCE_LINE].tolist() == [2, 3, 4]
    assert df[rules.SOURCE_FILE].iloc[0] == "file.csv"
    assert df[rules.CHECKSUM].iloc[0] == sha
    assert df[rules.PARSE_ERROR].notna().tolist() == [False, False, True]


def test_landing_archive_into_an_s3_warehouse(s3_server, s3_bucket, tmp_path):
    """DQ_WAREHOUSE_URI may be s3://: archive from a local landing file into S3 and find it again."""
    f = tmp_path / "file.csv"
    f.write_bytes(CSV)
    src = landing.describe("t", f)
    sha = hashlib.sha256(CSV).hexdigest()
    wh = f"s3://{s3_bucket}/warehouse"
    archived = landing.archive(src, warehouse_root=wh)
    assert archived == f"{wh}/_sources/t/{sha}/file.csv"
    body = s3_client(s3_server).get_object(Bucket=s3_bucket, Key=f"warehouse/_sources/t/{sha}/file.csv")["Body"]
    assert body.read() == CSV
    assert landing.find_archived(wh, "t", src.partition_key) == archived
    assert readers.read_source(archived, t_contract())["a"].tolist()[:2] == ["1", "2"]
