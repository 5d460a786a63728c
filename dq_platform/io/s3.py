"""S3 through boto3: the client (sessions cached per credential environment), server-side
encryption and uploads.

Every object the platform writes to S3 is encrypted as DQ_S3_SSE / DQ_S3_KMS_KEY_ID ask: Delta
tables through deltalake's `sse_options()` (io/warehouse.py), everything else (landing-zone
deliveries, archived source files, reports) through boto3 with `sse_extra_args()` or `upload`.
Reading and listing by URI goes through Arrow instead (io/files.py). Both io/warehouse.py and
io/landing_zones.py build on this module, which imports neither.
"""

from __future__ import annotations

import threading

from dq_platform import settings

_SESSIONS: dict[tuple, object] = {}
_SESSIONS_LOCK = threading.Lock()
_SESSION_ENV = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_PROFILE",
    "AWS_CONFIG_FILE",
    "AWS_SHARED_CREDENTIALS_FILE",
)


def s3_client():
    """An S3 client for the current AWS_* environment.

    boto3 sessions are reused per credential environment (creating one loads the service
    models, ~0.25 s: too slow for every sensor tick); boto3's default session is not used, and
    clients are created under a lock because a session is not thread-safe.
    """
    import boto3
    from botocore.config import Config

    endpoint = settings.get("AWS_ENDPOINT_URL")
    region = settings.get("AWS_REGION") or settings.get("AWS_DEFAULT_REGION")
    # S3-compatible stores (MinIO, a loopback server) need path-style addressing
    config = Config(s3={"addressing_style": "path"}) if endpoint else None
    key = tuple(settings.get(name) for name in _SESSION_ENV)
    with _SESSIONS_LOCK:
        session = _SESSIONS.get(key)
        if session is None:
            session = _SESSIONS[key] = boto3.session.Session()
        return session.client("s3", endpoint_url=endpoint, region_name=region, config=config)


def sse_options() -> dict[str, str]:
    """object_store options for server-side encryption from DQ_S3_SSE / DQ_S3_KMS_KEY_ID.

    Every object deltalake writes (data files and _delta_log entries) then carries SSE-KMS.
    """
    sse = settings.get("DQ_S3_SSE")
    if not sse:
        return {}
    if sse not in ("aws:kms", "AES256"):
        raise ValueError(f"DQ_S3_SSE must be 'aws:kms' or 'AES256', got '{sse}'")
    opts = {"aws_server_side_encryption": sse}
    if sse == "aws:kms":
        key = settings.get("DQ_S3_KMS_KEY_ID")
        if not key:
            raise ValueError("DQ_S3_SSE=aws:kms needs DQ_S3_KMS_KEY_ID (the KMS key id or ARN)")
        opts["aws_sse_kms_key_id"] = key
    return opts


def sse_extra_args() -> dict[str, str]:
    """The same encryption as boto3 upload arguments, for objects written outside deltalake."""
    opts = sse_options()
    args = {}
    if opts:
        args["ServerSideEncryption"] = opts["aws_server_side_encryption"]
    if "aws_sse_kms_key_id" in opts:
        args["SSEKMSKeyId"] = opts["aws_sse_kms_key_id"]
    return args


def upload(fileobj, uri: str) -> None:
    """Write a stream to s3://bucket/key with the platform's SSE settings.

    boto3, not Arrow's S3 filesystem: Arrow cannot ask for SSE-KMS. The object appears only when
    the (multipart) upload completes, so readers never see a partial file.
    """
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    s3_client().upload_fileobj(fileobj, bucket, key, ExtraArgs=sse_extra_args() or None)


def presigned_url(uri: str, expires_seconds: int) -> str:
    """A time-limited HTTPS link to one object (a run report), for a browser without AWS credentials."""
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    return s3_client().generate_presigned_url(
        "get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=int(expires_seconds)
    )
