"""Arrow filesystems for file:// and s3:// URIs: what reads and copies source files and lists tables.

`filesystem(uri)` picks the Arrow filesystem by the URI's scheme (local, or S3 from the standard AWS
variables); `_uri` makes a local path a file:// URI. Its own module, not io/s3.py: it serves local
and S3 alike, with no boto3 — io/s3.py is the boto3 side (the S3 client, server-side encryption
and uploads, which Arrow's S3 filesystem cannot encrypt with SSE-KMS). Used by landing (hashing,
archiving), readers (reading a file) and the maintenance job (listing a table's files).
"""

from __future__ import annotations

from pathlib import Path

import pyarrow.fs as pafs

from dq_platform import settings


def filesystem(uri: str) -> tuple[pafs.FileSystem, str]:
    """The Arrow filesystem and path for a file:// or s3:// URI.

    S3 takes its credentials and region from the standard AWS variables, and its endpoint from
    AWS_ENDPOINT_URL (S3-compatible stores, a loopback test server), http when AWS_ALLOW_HTTP.
    """
    if uri.startswith("s3://"):
        endpoint = settings.get("AWS_ENDPOINT_URL")
        kwargs = {}
        if endpoint:
            scheme, _, host = endpoint.partition("://")
            kwargs.update(endpoint_override=host or scheme, scheme=scheme if host else "https")
        region = settings.get("AWS_REGION") or settings.get("AWS_DEFAULT_REGION")
        if region:
            kwargs["region"] = region
        return pafs.S3FileSystem(**kwargs), uri.removeprefix("s3://")
    return pafs.FileSystem.from_uri(uri)


def _uri(path_or_uri: str | Path) -> str:
    s = str(path_or_uri)
    return s if "://" in s else Path(s).resolve().as_uri()
