"""Reaching a configured remote: its table's settings and its credentials, if any."""

from __future__ import annotations

from mlv.remote.config import RemoteSpec, secrets_of
from mlv.remote.storage import S3Settings, Storage, open_storage
from mlv.repo.layout import Layout


def open_remote(layout: Layout, spec: RemoteSpec) -> Storage:
    """The storage of remote ``spec``; S3 credentials from ``.mlv/config.local.toml`` when
    it holds them for this remote, else from the AWS chain (environment, profile)."""
    settings = None
    if spec.url.startswith("s3://"):
        secrets = secrets_of(layout, spec.name)
        settings = S3Settings(
            endpoint_url=spec.endpoint_url,
            region=spec.region,
            profile=spec.profile,
            allow_http=spec.allow_http,
            access_key_id=secrets.get("access_key_id"),
            secret_access_key=secrets.get("secret_access_key"),
            session_token=secrets.get("session_token"),
        )
    return open_storage(spec.url, settings)
