"""Build and push test images in pure Python through the registry API (no Docker, no skopeo).

Images have one small deterministic layer (mtime 0) and a config with the given Labels and Env.
Single-platform manifests and multi-platform indexes, in OCI or Docker media types, optionally
without the `mediaType` field (as umoci writes them). Every push returns digests.

The builder speaks to the registry on its own (Basic, or Bearer with push scope) so that test
setup never depends on the client under test.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import json
import re
import tarfile
from collections.abc import Generator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import httpx2

MediaFlavor = Literal["oci", "docker"]

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"

_TYPES = {
    "oci": {"index": OCI_INDEX, "manifest": OCI_MANIFEST, "config": OCI_CONFIG, "layer": OCI_LAYER},
    "docker": {
        "index": DOCKER_LIST,
        "manifest": DOCKER_MANIFEST,
        "config": DOCKER_CONFIG,
        "layer": DOCKER_LAYER,
    },
}


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def canonical_json(document: Mapping[str, Any]) -> bytes:
    return json.dumps(document, separators=(",", ":"), sort_keys=True).encode()


@dataclass(frozen=True)
class ImageSpec:
    """One platform image."""

    labels: Mapping[str, str] = field(default_factory=dict)
    env: Sequence[str] = ()
    os: str = "linux"
    architecture: str = "amd64"
    variant: str | None = None

    @property
    def platform(self) -> str:
        return "/".join(p for p in (self.os, self.architecture, self.variant) if p)


@dataclass(frozen=True)
class PushedImage:
    digest: str  # manifest digest
    config_digest: str
    config_size: int
    manifest: bytes
    platform: str


@dataclass(frozen=True)
class PushedIndex:
    digest: str
    children: dict[str, PushedImage]  # by platform


class _BuilderAuth(httpx2.Auth):
    """Basic up front if the registry asks for it; Bearer tokens with pull+push scope."""

    requires_response_body = True

    def __init__(self, username: str | None, password: str | None) -> None:
        self.basic = (
            "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()
            if username is not None
            else None
        )
        self.tokens: dict[str, str] = {}

    def auth_flow(self, request: httpx2.Request) -> Generator[httpx2.Request, httpx2.Response, None]:
        match = re.match(r"^/v2/(.+?)/(?:manifests|blobs)/", request.url.path)
        repository = match.group(1) if match else ""
        if repository in self.tokens:
            request.headers["Authorization"] = "Bearer " + self.tokens[repository]
        response = yield request
        if response.status_code != 401:
            return
        challenge = response.headers.get("www-authenticate", "")
        scheme, _, rest = challenge.partition(" ")
        params = dict(re.findall(r'(\w+)="([^"]*)"', rest))
        if scheme.lower() == "basic" and self.basic:
            request.headers["Authorization"] = self.basic
            yield request
        elif scheme.lower() == "bearer":
            query = {"service": params.get("service", ""), "scope": f"repository:{repository}:pull,push"}
            token_request = httpx2.Request(
                "GET",
                httpx2.URL(params["realm"]).copy_merge_params(query),
                headers={"Authorization": self.basic} if self.basic else {},
            )
            token_response = yield token_request
            token_response.raise_for_status()
            self.tokens[repository] = token_response.json()["token"]
            request.headers["Authorization"] = "Bearer " + self.tokens[repository]
            yield request


class ImageBuilder:
    """Push images to one registry. Use as a context manager (closes the HTTP client)."""

    def __init__(
        self,
        base_url: str,
        *,
        username: str | None = None,
        password: str | None = None,
        ca_bundle: str | None = None,
    ) -> None:
        import ssl

        verify: ssl.SSLContext | bool = ssl.create_default_context(cafile=ca_bundle) if ca_bundle else True
        self.http = httpx2.Client(
            base_url=base_url, auth=_BuilderAuth(username, password), verify=verify, timeout=30.0
        )
        self.layer, self.diff_id = self._layer({"etc/aim-release": b"aim test image\n"})

    def __enter__(self) -> ImageBuilder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.http.close()

    @staticmethod
    def _layer(files: Mapping[str, bytes]) -> tuple[bytes, str]:
        raw = io.BytesIO()
        with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
            for name, data in sorted(files.items()):
                info = tarfile.TarInfo(name)
                info.size, info.mtime, info.mode = len(data), 0, 0o644
                tar.addfile(info, io.BytesIO(data))
        return gzip.compress(raw.getvalue(), mtime=0), sha256(raw.getvalue())

    # ---------------------------------------------------------------------------- primitives

    def push_blob(self, repository: str, data: bytes) -> str:
        digest = sha256(data)
        if self.http.head(f"/v2/{repository}/blobs/{digest}").status_code == 200:
            return digest
        started = self.http.post(f"/v2/{repository}/blobs/uploads/")
        started.raise_for_status()
        location = started.headers["Location"]
        # Append to the upload URL string: httpx's params= would replace its _state query.
        location += ("&" if "?" in location else "?") + f"digest={digest}"
        done = self.http.put(location, content=data, headers={"Content-Type": "application/octet-stream"})
        done.raise_for_status()
        return digest

    def put_manifest(self, repository: str, reference: str, body: bytes, media_type: str) -> str:
        response = self.http.put(
            f"/v2/{repository}/manifests/{reference}", content=body, headers={"Content-Type": media_type}
        )
        response.raise_for_status()
        return sha256(body)

    def delete_manifest(self, repository: str, digest: str) -> None:
        self.http.delete(f"/v2/{repository}/manifests/{digest}").raise_for_status()

    # ------------------------------------------------------------------------------- images

    def config_blob(self, spec: ImageSpec) -> bytes:
        config: dict[str, Any] = {
            "architecture": spec.architecture,
            "os": spec.os,
            "config": {"Env": list(spec.env), "Labels": dict(spec.labels)},
            "rootfs": {"type": "layers", "diff_ids": [self.diff_id]},
            "created": "1970-01-01T00:00:00Z",
        }
        if spec.variant:
            config["variant"] = spec.variant
        return canonical_json(config)

    def push_image(
        self,
        repository: str,
        tag: str | None,
        spec: ImageSpec | None = None,
        *,
        flavor: MediaFlavor = "oci",
        omit_media_type: bool = False,
        config_override: bytes | None = None,
    ) -> PushedImage:
        """Push one platform image; tag it when `tag` is given (else it is pushed by digest).
        `config_override` pushes those bytes as the config blob instead of one built from `spec`."""
        spec = spec or ImageSpec()
        types = _TYPES[flavor]
        layer_digest = self.push_blob(repository, self.layer)
        config = config_override if config_override is not None else self.config_blob(spec)
        config_digest = self.push_blob(repository, config)
        manifest: dict[str, Any] = {
            "schemaVersion": 2,
            "mediaType": types["manifest"],
            "config": {"mediaType": types["config"], "digest": config_digest, "size": len(config)},
            "layers": [{"mediaType": types["layer"], "digest": layer_digest, "size": len(self.layer)}],
        }
        if omit_media_type:
            del manifest["mediaType"]
        body = canonical_json(manifest)
        digest = self.put_manifest(repository, tag or sha256(body), body, types["manifest"])
        return PushedImage(digest, config_digest, len(config), body, spec.platform)

    def push_index(
        self,
        repository: str,
        tag: str,
        specs: Sequence[ImageSpec],
        *,
        flavor: MediaFlavor = "oci",
        omit_media_type: bool = False,
        extra_entries: Sequence[Mapping[str, Any]] = (),
    ) -> PushedIndex:
        """Push each platform image by digest, then an index (or Docker manifest list) under `tag`."""
        types = _TYPES[flavor]
        children: dict[str, PushedImage] = {}
        entries: list[dict[str, Any]] = []
        for spec in specs:
            child = self.push_image(repository, None, spec, flavor=flavor, omit_media_type=omit_media_type)
            children[spec.platform] = child
            platform: dict[str, str] = {"architecture": spec.architecture, "os": spec.os}
            if spec.variant:
                platform["variant"] = spec.variant
            entries.append(
                {
                    "mediaType": types["manifest"],
                    "digest": child.digest,
                    "size": len(child.manifest),
                    "platform": platform,
                }
            )
        entries.extend(dict(e) for e in extra_entries)
        index: dict[str, Any] = {"schemaVersion": 2, "mediaType": types["index"], "manifests": entries}
        if omit_media_type:
            del index["mediaType"]
        body = canonical_json(index)
        digest = self.put_manifest(repository, tag, body, types["index"])
        return PushedIndex(digest, children)

    def tag(self, repository: str, source_reference: str, tag: str) -> str:
        """Point `tag` at the manifest `source_reference` points at (a retag, as `crane tag`)."""
        response = self.http.get(
            f"/v2/{repository}/manifests/{source_reference}",
            headers={"Accept": ", ".join((OCI_INDEX, DOCKER_LIST, OCI_MANIFEST, DOCKER_MANIFEST))},
        )
        response.raise_for_status()
        media_type = response.headers["content-type"].split(";")[0]
        return self.put_manifest(repository, tag, response.content, media_type)
