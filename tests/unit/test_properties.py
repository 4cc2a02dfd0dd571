"""Property-based tests (hypothesis) of the pure functions every reconcile leans on: label parsing,
image references and rebasing, names and hashes, version order and resource merging. Each says
what must hold for any input, not for the examples the other tests chose."""

from __future__ import annotations

import contextlib
import json
import re
import string
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from aim_engine.api.image_reference import parse_reference
from aim_engine.api.meta import ResourceRequirements
from aim_engine.api.quantity import to_decimal
from aim_engine.catalog.image_metadata import MalformedLabelError, extract_image_metadata, parse_deployments
from aim_engine.catalog.images import image_tag, is_version, newest, rebase, version_key
from aim_engine.catalog.naming import MAX_NAME, derived_name, rfc1123_part, short_hash
from aim_engine.catalog.resources import GPU_RESOURCE, merge_resources

settings.register_profile("aim", max_examples=200, deadline=None)
settings.load_profile("aim")

DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
ANY_TEXT = st.text(max_size=120)

# --- image references ---------------------------------------------------------------------------

_lower = string.ascii_lowercase + string.digits
component = st.from_regex(r"\A[a-z0-9]+(?:[._-][a-z0-9]+){0,2}\Z")
# Without a registry, a first component with a '.' would be read as a host (Docker's rule).
first_component = st.from_regex(r"\A[a-z0-9]+(?:[_-][a-z0-9]+){0,2}\Z")
repository = st.builds(lambda a, rest: "/".join([a, *rest]), first_component, st.lists(component, max_size=2))
host = st.one_of(
    st.from_regex(r"\A[a-z0-9]{1,10}\.(?:io|com|example)\Z"),
    st.builds(lambda n, p: f"{n}.local:{p}", st.text(_lower, min_size=1, max_size=8), st.integers(1, 65535)),
    st.just("localhost:5000"),
)
tag = st.from_regex(r"\A[A-Za-z0-9_][A-Za-z0-9_.-]{0,20}\Z")
digest = st.text("0123456789abcdef", min_size=64, max_size=64).map(lambda h: f"sha256:{h}")


@st.composite
def image_references(draw: st.DrawFn) -> tuple[str, str | None, str, str | None, str | None]:
    registry = draw(st.one_of(st.none(), host))
    repo = draw(repository)
    the_tag = draw(st.one_of(st.none(), tag))
    the_digest = draw(st.one_of(st.none(), digest))
    text = f"{registry}/{repo}" if registry else repo
    if the_tag:
        text += f":{the_tag}"
    if the_digest:
        text += f"@{the_digest}"
    return text, registry, repo, the_tag, the_digest


@given(image_references())
def test_valid_references_parse_to_their_parts_and_round_trip(case: Any) -> None:
    text, registry, repo, the_tag, the_digest = case
    ref = parse_reference(text)
    assert ref.registry == (registry or "docker.io")
    if registry is None and "/" not in repo:
        assert ref.repository == f"library/{repo}"
    else:
        assert ref.repository == repo
    assert ref.digest == the_digest
    assert ref.tag == (the_tag or (None if the_digest else "latest"))
    assert parse_reference(str(ref)) == ref  # the canonical form is a fixed point
    assert image_tag(text) == the_tag


@given(ANY_TEXT)
def test_any_text_parses_or_fails_with_a_value_error(text: str) -> None:
    try:
        ref = parse_reference(text)
    except ValueError as exc:
        message = str(exc)
        ref = None
    if ref is None:
        assert "invalid image reference" in message
    else:
        assert parse_reference(str(ref)) == ref


@given(image_references(), image_references())
def test_rebase_keeps_the_reference_name_under_the_source_prefix(source: Any, reference: Any) -> None:
    source_text, reference_text = source[0], reference[0]
    rebased = rebase(source_text, reference_text)
    assert rebased.rsplit("/", 1)[-1] == reference_text.rsplit("/", 1)[-1]
    if "/" in source_text:
        assert rebased.rsplit("/", 1)[0] == source_text.split("@", 1)[0].rsplit("/", 1)[0]
    else:
        assert rebased == reference_text
    assert rebase(source_text, rebased) == rebased  # rebasing twice changes nothing more


# --- names and hashes ---------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8,
)


@given(ANY_TEXT)
def test_rfc1123_part_is_a_dns_label_for_any_text(text: str) -> None:
    part = rfc1123_part(text)
    assert DNS_LABEL.match(part) and len(part) <= MAX_NAME


@given(st.lists(ANY_TEXT, max_size=6), st.lists(json_values, max_size=4), st.integers(0, 16))
def test_derived_names_are_dns_safe_bounded_and_stable(
    parts: list[str], inputs: list[Any], length: int
) -> None:
    name = derived_name(parts, inputs, hash_length=length)
    assert len(name) <= MAX_NAME
    assert name == "" or DNS_LABEL.match(name), name
    assert derived_name(list(parts), json.loads(json.dumps(inputs)), hash_length=length) == name
    if length:
        assert name.endswith(short_hash(inputs, length))


@given(st.lists(json_values, max_size=4), st.lists(json_values, max_size=4))
def test_different_inputs_give_different_hashes(a: list[Any], b: list[Any]) -> None:
    same = json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)
    assert (short_hash(a, 16) == short_hash(b, 16)) == same


# --- versions -----------------------------------------------------------------------------------

versions = st.builds(
    lambda v, major, minor, patch, pre: f"{v}{major}.{minor}{patch}{pre}",
    st.sampled_from(["", "v"]),
    st.integers(0, 20),
    st.integers(0, 20),
    st.one_of(st.just(""), st.integers(0, 20).map(lambda p: f".{p}")),
    st.one_of(st.just(""), st.from_regex(r"\A-(?:rc|alpha|beta)(?:\.[0-9]{1,2})?\Z")),
)
tags = st.one_of(versions, st.text(string.ascii_letters + string.digits + ".-", max_size=12))


@given(st.lists(tags, max_size=8), st.randoms())
def test_newest_does_not_depend_on_the_order_it_is_given(items: list[str], rng: Any) -> None:
    shuffled = list(items)
    rng.shuffle(shuffled)
    assert newest(items) == newest(shuffled)
    if items:
        assert newest(items) in items


def test_newest_is_the_same_in_every_process() -> None:
    """Equal versions written differently: the pick must not follow a set's per-process order
    (it did: `1.0`, `1.0.0` or `v1.0.0` by PYTHONHASHSEED, so a restarted operator could move a
    fine-tuned model to another template)."""
    import subprocess
    import sys

    code = "from aim_engine.catalog.images import newest; print(newest(['v1.0.0', '1.0.0', '1.0']))"
    picks = {
        subprocess.run(
            [sys.executable, "-c", code],
            env={"PYTHONHASHSEED": str(seed)},
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for seed in range(6)
    }
    assert picks == {"v1.0.0\n"}


@given(versions)
def test_a_release_is_newer_than_its_pre_releases(version: str) -> None:
    release = version.split("-", 1)[0]
    assert is_version(version) and is_version(release)
    assert version_key(release) >= version_key(version)
    assert newest([version, release]) == release or version == release


@given(tags, tags, tags)
def test_version_order_is_transitive(a: str, b: str, c: str) -> None:
    ka, kb, kc = version_key(a), version_key(b), version_key(c)
    if ka <= kb <= kc:
        assert ka <= kc


# --- labels -------------------------------------------------------------------------------------

label_values = st.one_of(
    ANY_TEXT,
    st.lists(
        st.dictionaries(st.sampled_from(["gpuModel", "gpuCount", "precision", "metric", "x"]), json_values)
    ).map(json.dumps),
)


@given(label_values)
def test_deployment_labels_parse_or_fail_with_a_message_naming_the_label(value: str) -> None:
    message = ""
    try:
        parse_deployments(value, label="com.amd.aim.model.recommendedDeployments")
    except MalformedLabelError as exc:
        message = str(exc)
    assert not message or "com.amd.aim.model.recommendedDeployments" in message


@given(
    st.dictionaries(
        st.one_of(
            st.sampled_from(
                [
                    "com.amd.aim.model.canonicalName",
                    "com.amd.aim.model.recommendedDeployments",
                    "com.amd.aim.model.tags",
                    "com.amd.aim.hfToken.required",
                    "org.opencontainers.image.title",
                ]
            ),
            ANY_TEXT,
        ),
        label_values,
        max_size=6,
    )
)
def test_any_labels_give_metadata_or_a_malformed_label_error(labels: dict[str, str]) -> None:
    with contextlib.suppress(MalformedLabelError):
        extract_image_metadata(labels)


# --- resources ----------------------------------------------------------------------------------

quantities = st.sampled_from(["1", "2", "500m", "4Gi", "64Gi", "8"])
resource_names = st.sampled_from(["cpu", "memory", GPU_RESOURCE, "ephemeral-storage"])
levels = st.one_of(
    st.none(),
    st.builds(
        lambda requests, limits: ResourceRequirements(requests=requests or None, limits=limits or None),
        st.dictionaries(resource_names, quantities, max_size=3),
        st.dictionaries(resource_names, quantities, max_size=3),
    ),
)


@given(levels, levels, levels, st.one_of(st.none(), st.integers(1, 8)))
def test_the_nearest_level_wins_per_resource_and_part(
    service: ResourceRequirements | None,
    template: ResourceRequirements | None,
    model: ResourceRequirements | None,
    gpus: int | None,
) -> None:
    merged = merge_resources(service, template, model, profile_gpu_count=gpus)
    sources = (("service", service), ("template", template), ("model", model))
    # A GPU's request is its limit: the nearest level that gives either decides both (its limit
    # when it gives both).
    gpu_given = [
        (level, (source.limits or {}).get(GPU_RESOURCE) or (source.requests or {})[GPU_RESOURCE])
        for level, source in sources
        if source is not None and GPU_RESOURCE in {**(source.requests or {}), **(source.limits or {})}
    ]
    for part in ("requests", "limits"):
        result = merged.requests if part == "requests" else merged.limits
        for name in set(result) | {GPU_RESOURCE}:
            declared = [
                (level, getattr(source, part)[name])
                for level, source in sources
                if source is not None and getattr(source, part) and name in getattr(source, part)
            ]
            if name == GPU_RESOURCE and gpu_given:
                assert result[name] == gpu_given[0][1]
                # Where the two parts agreed already, each keeps the level it came from.
                assert merged.origins[f"{part}.{name}"] in {level for level, _ in gpu_given}
            elif declared:
                assert (merged.origins[f"{part}.{name}"], result[name]) == declared[0]
            elif name == GPU_RESOURCE and gpus:
                assert (merged.origins[f"{part}.{name}"], result[name]) == ("template profile", str(gpus))
            elif name in result:
                # Only a GPU template's CPU and memory get a default, and only where unset.
                assert name in ("cpu", "memory") and GPU_RESOURCE in result
                assert merged.origins[f"{part}.{name}"] == "per-GPU default"
    # A default never makes a request exceed its limit.
    for name, limit in merged.limits.items():
        defaulted = "per-GPU default" in (
            merged.origins.get(f"requests.{name}"),
            merged.origins[f"limits.{name}"],
        )
        if name in merged.requests and defaulted:
            assert to_decimal(merged.requests[name]) <= to_decimal(limit)
