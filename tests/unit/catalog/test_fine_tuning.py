"""Fine-tuned models: image arithmetic, classification, the four matching steps, deployment
images and copies (catalog/images.py, model_kind.py, fine_tuning.py)."""

from __future__ import annotations

from typing import Any

import pytest

from aim_engine.api.v1alpha1 import AIMModelSpec, ImageMetadata
from aim_engine.api.v1alpha1.template import AIMServiceTemplateSpec
from aim_engine.catalog import labels
from aim_engine.catalog.fine_tuning import Candidate, deployment_image, match
from aim_engine.catalog.images import image_tag, legacy_base_image, newest, rebase, version_key
from aim_engine.catalog.model_kind import CustomModel, FineTunedModel, ImageModel, classify
from aim_engine.catalog.model_view import ModelView
from aim_engine.catalog.templates import plan
from tests.support.document_tables import REBASING_ROWS

SOURCE = {"modelId": "qwen/qwen3-32b-fp8", "sourceUri": "s3://my-bucket/weights/"}


# --- images ---


@pytest.mark.parametrize(
    ("owner", "base", "expected"),
    [
        *REBASING_ROWS,  # the document's three rows, exactly
        # Registry ports on either side, digests, and a source without organisation.
        (
            "127.0.0.1:5000/org/qwen3:1.0",
            "docker.io/amdenterpriseai/aim-base:0.11",
            "127.0.0.1:5000/org/aim-base:0.11",
        ),
        ("mirror:5000/qwen3:1.0", "other:443/aim-base:0.11", "mirror:5000/aim-base:0.11"),
        (
            "ghcr.io/org/qwen3@sha256:abc",
            "docker.io/amdenterpriseai/aim-base:0.11",
            "ghcr.io/org/aim-base:0.11",
        ),
        ("ghcr.io/org/qwen3:1", "docker.io/x/aim-base@sha256:def", "ghcr.io/org/aim-base@sha256:def"),
        ("qwen3:1.0", "docker.io/amdenterpriseai/aim-base:0.11", "docker.io/amdenterpriseai/aim-base:0.11"),
        ("amdenterpriseai/qwen3:1.0", "aim-base:0.11", "amdenterpriseai/aim-base:0.11"),
    ],
)
def test_rebase(owner: str, base: str, expected: str) -> None:
    assert rebase(owner, base) == expected


@pytest.mark.parametrize(
    ("owner", "expected"),
    [
        ("ghcr.io/silogen/qwen3:0.11.0", "ghcr.io/silogen/aim-base:0.11"),
        ("registry.example.com/team/models/qwen3:0.11", "registry.example.com/team/models/aim-base:0.11"),
        ("host:5000/org/qwen3:v1.2.3-rc1", "host:5000/org/aim-base:1.2"),
        ("host:5000/org/qwen3:0.8.5+build.7", "host:5000/org/aim-base:0.8"),
        ("ghcr.io/org/qwen3:latest", None),
        ("ghcr.io/org/qwen3", None),
        ("host:5000/org/qwen3", None),  # the port is not a tag
        ("ghcr.io/org/qwen3@sha256:abc", None),
    ],
)
def test_legacy_base_image(owner: str, expected: str | None) -> None:
    assert legacy_base_image(owner) == expected


def test_versions_order_semantically() -> None:
    assert newest(["0.9.1", "0.10.0", "0.8.5"]) == "0.10.0"
    assert newest(["1.0.0-rc1", "1.0.0"]) == "1.0.0"
    assert newest(["1.0.0-rc.2", "1.0.0-rc.10"]) == "1.0.0-rc.10"
    assert newest(["latest", "0.1"]) == "0.1"  # non-versions sort below every version
    assert newest([]) is None
    assert sorted(["v2.0", "1.10", "1.9.9", "x"], key=version_key) == ["x", "1.9.9", "1.10", "v2.0"]
    assert image_tag("host:5000/a/b:1.2") == "1.2"


# --- classification ---


def spec(**fields: Any) -> AIMModelSpec:
    return AIMModelSpec.model_validate(fields)


def test_three_kinds_of_model() -> None:
    assert isinstance(classify(spec(image="a/b:1")), ImageModel)
    assert isinstance(classify(spec(image="a/b:1", aimId="x/y")), ImageModel)  # no sources: an image model
    assert isinstance(classify(spec(modelSources=[SOURCE])), CustomModel)
    ft = classify(spec(image="amdenterpriseai/aim-base:0.8.5", aimId="qwen/qwen3-32b", modelSources=[SOURCE]))
    assert isinstance(ft, FineTunedModel)
    assert (ft.policy, ft.pinned_version, ft.model_ids) == ("pinned", "0.8.5", ["qwen/qwen3-32b-fp8"])
    for written, policy in [("latest", "latest"), ("any", "any"), ("all", "any"), ("pinned", "pinned")]:
        kind = classify(spec(aimId="q/q", modelSources=[SOURCE], custom={"versionPolicy": written}))
        assert isinstance(kind, FineTunedModel) and kind.policy == policy


# --- matching ---


def owner(
    name: str,
    image: str | None,
    base: str | None = "docker.io/amdenterpriseai/aim-base:0.11",
    *,
    inspected: bool = True,
    namespace: str | None = None,
    **fields: Any,
) -> ModelView:
    metadata = ImageMetadata(base_image_ref=base) if inspected else None
    kind = "AIMModel" if namespace else "AIMClusterModel"
    model_spec = spec(image=image, **fields) if image else spec(**fields)
    return ModelView(kind=kind, name=name, namespace=namespace, spec=model_spec, image_metadata=metadata)


def template(
    name: str,
    model: ModelView | None,
    *,
    aim_id: str = "qwen/qwen3-32b",
    model_id: str = "qwen/qwen3-32b-fp8",
    origin: str = labels.ORIGIN_AUTO,
    namespace: str | None = None,
    **fields: Any,
) -> Candidate:
    body = {"modelName": model.name if model else "gone", "aimId": aim_id, "modelId": model_id, **fields}
    kind = "AIMServiceTemplate" if namespace else "AIMClusterServiceTemplate"
    return Candidate(
        kind, name, namespace, {labels.ORIGIN: origin}, AIMServiceTemplateSpec.model_validate(body), model
    )


def fine_tuned(policy: str | None = None, image: str | None = None, **fields: Any) -> AIMModelSpec:
    custom = {"versionPolicy": policy} if policy else None
    return spec(aimId="qwen/qwen3-32b", modelSources=[SOURCE], image=image, custom=custom, **fields)


def run(model_spec: AIMModelSpec, candidates: list[Candidate]) -> dict[str, Any]:
    kind = classify(model_spec)
    assert isinstance(kind, FineTunedModel)
    report = match("ft", model_spec, kind, candidates)
    return {v.candidate.name: (v.outcome, v.copy) for v in report.verdicts}


def test_pinned_takes_the_tag_of_spec_image_and_deploys_it() -> None:
    old, new = owner("q085", "ghcr.io/silogen/qwen3:0.8.5"), owner("q090", "ghcr.io/silogen/qwen3:0.9.0")
    verdicts = run(
        fine_tuned(image="amdenterpriseai/aim-base:0.8.5"),
        [template("t085", old), template("t090", new)],
    )
    assert verdicts["t090"][0] == "version"
    outcome, copy = verdicts["t085"]
    assert outcome == "matched"
    assert copy.annotations[labels.DEPLOYMENT_IMAGE] == "amdenterpriseai/aim-base:0.8.5"
    assert copy.annotations[labels.SOURCE_VERSION] == "0.8.5"
    assert copy.labels == {labels.MODEL: "ft", labels.ORIGIN: labels.ORIGIN_FINE_TUNED}
    assert copy.spec.model_name == "ft"
    assert [s.source_uri for s in copy.spec.model_sources or []] == ["s3://my-bucket/weights/"]


def test_latest_takes_only_the_newest_version_semver_aware() -> None:
    models = [owner(f"q{v}", f"ghcr.io/silogen/qwen3:{v}") for v in ("0.9.1", "0.10.0")]
    verdicts = run(fine_tuned("latest"), [template(f"t{m.name}", m) for m in models])
    assert verdicts["tq0.9.1"][0] == "version"
    outcome, copy = verdicts["tq0.10.0"]
    assert outcome == "matched"
    assert copy.annotations[labels.DEPLOYMENT_IMAGE] == "ghcr.io/silogen/aim-base:0.11"


def test_any_takes_every_version_with_per_copy_images() -> None:
    a = owner("a", "ghcr.io/silogen/qwen3:0.9.0", "docker.io/amdenterpriseai/aim-base:0.9")
    b = owner("b", "registry.example.com/team/qwen3:0.11.0", "docker.io/amdenterpriseai/aim-epyc-base:0.11")
    for policy in ("any", "all"):
        verdicts = run(fine_tuned(policy), [template("ta", a), template("tb", b)])
        images = {n: c.annotations[labels.DEPLOYMENT_IMAGE] for n, (_, c) in verdicts.items()}
        assert images == {
            "ta": "ghcr.io/silogen/aim-base:0.9",
            "tb": "registry.example.com/team/aim-epyc-base:0.11",
        }


def test_model_id_official_only_and_aim_id_steps() -> None:
    m = owner("m", "ghcr.io/silogen/qwen3:0.11.0")
    verdicts = run(
        fine_tuned("any"),
        [
            template("other-id", m, model_id="qwen/qwen3-32b"),
            template("other-family", m, aim_id="meta/llama"),
            template("a-copy", m, origin=labels.ORIGIN_FINE_TUNED),
            template("orphan", None),
            template("good", m),
        ],
    )
    assert {n: o for n, (o, _) in verdicts.items()} == {
        "other-id": "modelId",
        "other-family": "otherAimId",
        "a-copy": "copy",
        "orphan": "noOwner",
        "good": "matched",
    }


def test_legacy_owner_falls_back_to_aim_base_major_minor_and_skips_non_semver() -> None:
    legacy = owner("legacy", "ghcr.io/silogen/qwen3:0.11.2", base=None)
    odd = owner("odd", "ghcr.io/silogen/qwen3:nightly", base=None)
    waiting = owner("waiting", "ghcr.io/silogen/qwen3:0.12.0", base=None, inspected=False)
    kind = classify(fine_tuned("any"))
    assert isinstance(kind, FineTunedModel)
    assert deployment_image(kind, legacy).image == "ghcr.io/silogen/aim-base:0.11"
    assert deployment_image(kind, odd).image is None
    assert "not a version" in deployment_image(kind, odd).how
    assert "not been inspected" in (deployment_image(kind, waiting).how or "")
    # An owner that is never inspected (discovery off) takes the fallback at once.
    off = owner(
        "off",
        "ghcr.io/silogen/qwen3:0.12.0",
        base=None,
        inspected=False,
        discovery={"extractMetadata": False},
    )
    assert deployment_image(kind, off).image == "ghcr.io/silogen/aim-base:0.12"
    verdicts = run(fine_tuned("any"), [template("t1", legacy), template("t2", odd), template("t3", waiting)])
    assert [verdicts[n][0] for n in ("t1", "t2", "t3")] == ["matched", "imageUnresolved", "imageUnresolved"]


def test_copy_inherits_the_template_and_its_name_follows_immutable_fields() -> None:
    m = owner("m", "ghcr.io/silogen/qwen3:0.11.0")
    source = template(
        "src",
        m,
        metric="latency",
        precision="fp8",
        type="optimized",
        profileId="p1",
        hardware={"gpu": {"requests": 2, "models": ["MI325X", "MI300X"]}},
        env=[{"name": "A", "value": "1"}, {"name": "B", "value": "template"}],
        resources={"limits": {"memory": "64Gi"}},
        customProfile={"engineArgs": {"dtype": "float16"}, "envVars": {"X": "1"}},
    )
    model_spec = fine_tuned("any", env=[{"name": "B", "value": "model"}])
    (_, copy) = run(model_spec, [source])["src"]
    s = copy.spec
    assert (s.metric, s.precision, s.type, s.profile_id, s.aim_id, s.model_id) == (
        "latency",
        "fp8",
        "optimized",
        "p1",
        "qwen/qwen3-32b",
        "qwen/qwen3-32b-fp8",
    )
    assert s.hardware is not None and s.hardware.gpu is not None
    assert s.hardware.gpu.models == ["MI300X", "MI325X"]
    assert [(e.name, e.value) for e in s.env or []] == [("A", "1"), ("B", "model")]
    assert s.custom_profile is not None and s.custom_profile.engine_args == {"dtype": "float16"}
    assert s.resources is not None
    assert copy.name.startswith("ft-ft-0-11-0-fp8-") and len(copy.name) == len("ft-ft-0-11-0-fp8-") + 8
    assert copy.annotations[labels.SOURCE_TEMPLATE] == "AIMClusterServiceTemplate/src"
    # Another source (scope or name) gives another copy name.
    ns_source = template("src", m, namespace="team", metric="latency", precision="fp8")
    (_, other) = run(model_spec, [ns_source])["src"]
    assert other.name != copy.name


def test_status_summary_says_what_was_looked_for() -> None:
    m = owner("m", "ghcr.io/silogen/qwen3:0.9.0")
    model_spec = fine_tuned(image="amdenterpriseai/aim-base:0.8.5")
    kind = classify(model_spec)
    assert isinstance(kind, FineTunedModel)
    nothing = plan("ft", model_spec, None, [], kind=kind)
    assert nothing.reason == "NoMatchingTemplates"
    assert "aimId 'qwen/qwen3-32b', version 0.8.5 (versionPolicy pinned)" in nothing.message
    assert "modelId one of [qwen/qwen3-32b-fp8]" in nothing.message
    assert "no official template has that aimId" in nothing.message
    filtered = plan("ft", model_spec, None, [template("t", m)], kind=kind)
    assert "AIMClusterServiceTemplate/t: version 0.9.0" in filtered.message
    odd = owner("odd", "ghcr.io/silogen/qwen3:nightly", base=None)
    skipped = plan("ft", fine_tuned("any"), None, [template("t", odd)])
    assert skipped.skipped and "AIMClusterServiceTemplate/t" in skipped.skipped[0]
    assert skipped.reason == "DeploymentImageUnresolved"
    assert "skipped 1" in skipped.message
