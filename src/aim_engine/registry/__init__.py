"""OCI image inspection for the AIM catalog: reference → (index →) platform manifest → config blob
→ `ImageMetadata`. Only manifests and config blobs are fetched, never layers.

Modules (import from them directly; this package imports nothing so that the pure ones stay
cheap for `aim_engine.catalog`):

* `reference`   - image references parsed and normalised as Docker does (pure)
* `credentials` - credentials from pull secrets and Docker config files (pure, plus one file read)
* `errors`      - error classes, each with a condition `reason` and `transient` (pure)
* `manifest`    - manifests, indexes, platforms, configs, digests (pure)
* `auth`        - WWW-Authenticate parsing and the bearer token cache (pure)
* `cache`       - LRU cache and shared in-flight tasks
* `settings`    - `RegistrySettings`
* `client`      - `RegistryClient`, the HTTP side (httpx2): auth flow, TLS rules, retries, caps
* `inspector`   - `ImageInspector.inspect(image, credentials) -> InspectionResult`, with caches
"""
