"""Fine-tuned models: which official templates a model inherits, and the copy made of each.

The document's four steps, in order, for every candidate template the controller observed:

1. official templates only (not copies made for other fine-tuned models) whose `spec.aimId`
   equals the model's `spec.aimId`;
2. the version filter of `spec.custom.versionPolicy`, on the version of the template's owning
   model (its `spec.image` tag, which is also the template's `status.version`): `pinned` keeps the
   tag of the model's own `spec.image`, `latest` the newest version among the candidates of
   step 1, `any` everything;
3. the template's `spec.modelId` must be one of the model's `modelSources[].modelId`;
4. one copy per match, with the deployment image resolved for it (`deployment_image`).

Every candidate gets a verdict with the step that decided it, so status and `explain` can say
why a template was or was not inherited. Pure: the controller gathers the candidates and their
owners, and applies the copies.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from aim_engine.api.v1alpha1 import AIMModelSpec
from aim_engine.api.v1alpha1.template import AIMServiceTemplateSpec
from aim_engine.catalog import labels
from aim_engine.catalog.images import image_tag, legacy_base_image, newest, rebase
from aim_engine.catalog.model_kind import FineTunedModel, ImageModel, classify
from aim_engine.catalog.model_view import ModelView
from aim_engine.catalog.naming import derived_name
from aim_engine.catalog.template_spec import (
    DesiredTemplate,
    discovery_enabled,
    gpu_models_of,
    hardware_identity,
    merge_env,
    merge_hardware,
    normalized,
)

Outcome = Literal["matched", "copy", "otherAimId", "noOwner", "version", "modelId", "imageUnresolved"]


@dataclass(frozen=True)
class Candidate:
    """A template the fine-tuned model may inherit from."""

    kind: str
    name: str
    namespace: str | None
    labels: Mapping[str, str]
    spec: AIMServiceTemplateSpec
    owner: ModelView | None

    @property
    def ref(self) -> str:
        return f"{self.kind}/{self.namespace}/{self.name}" if self.namespace else f"{self.kind}/{self.name}"

    @property
    def version(self) -> str | None:
        return image_tag(self.owner.spec.image) if self.owner else None


@dataclass(frozen=True)
class DeploymentImage:
    image: str | None
    """None: unresolved; the copy is skipped and retried later."""
    how: str
    """How it was resolved, or why it could not be (for status and explain)."""


@dataclass(frozen=True)
class Verdict:
    candidate: Candidate
    outcome: Outcome
    detail: str
    image: DeploymentImage | None = None
    copy: DesiredTemplate | None = None


@dataclass(frozen=True)
class FineTuneReport:
    model: FineTunedModel
    version: str | None
    """The version looked for: the pinned tag, the newest version for `latest`, None for `any`."""
    verdicts: list[Verdict] = field(default_factory=list)

    @property
    def copies(self) -> list[DesiredTemplate]:
        return [v.copy for v in self.verdicts if v.copy is not None]

    @property
    def skipped(self) -> list[Verdict]:
        return [v for v in self.verdicts if v.outcome in ("imageUnresolved", "noOwner")]

    def looked_for(self) -> str:
        version = {
            "pinned": f"version {self.version or '(spec.image has no tag)'}",
            "latest": f"newest version {self.version}" if self.version else "the newest version (none found)",
            "any": "any version",
        }[self.model.policy]
        ids = ", ".join(self.model.model_ids)
        return (
            f"aimId {self.model.aim_id!r}, {version} (versionPolicy {self.model.policy}), "
            f"modelId one of [{ids}]"
        )

    def summary(self) -> str:
        """One bounded line for the model's status: matches, skips and, with no match, what
        was looked for and what was found instead."""
        copies = self.copies
        parts = [f"{len(copies)} official template(s) matched {self.looked_for()}"]
        skipped = self.skipped
        if skipped:
            named = "; ".join(f"{v.candidate.ref}: {v.detail}" for v in skipped[:5])
            more = f" (and {len(skipped) - 5} more)" if len(skipped) > 5 else ""
            parts.append(f"skipped {len(skipped)} until their deployment image resolves: {named}{more}")
        if not copies and not skipped:
            others = [v for v in self.verdicts if v.outcome in ("version", "modelId")]
            if others:
                named = "; ".join(f"{v.candidate.ref}: {v.detail}" for v in others[:5])
                more = f" (and {len(others) - 5} more)" if len(others) > 5 else ""
                parts.append(f"templates with that aimId were filtered out: {named}{more}")
            else:
                parts.append(
                    "no official template has that aimId in scope; create or discover a model of that "
                    "family, or fix spec.aimId"
                )
        return "; ".join(parts)


def deployment_image(model: FineTunedModel, owner: ModelView) -> DeploymentImage:
    """The image a copy deploys: spec.image for `pinned`; otherwise the owner's
    `baseImageRef` rebased onto the owner's registry and organisation, or for owners inspected
    before `baseImageRef` existed, `aim-base:MAJOR.MINOR` of the owner's tag, rebased the same way."""
    if model.policy == "pinned" and model.image:
        return DeploymentImage(model.image, f"spec.image {model.image} (versionPolicy pinned)")
    source = owner.spec.image
    if not source:
        return DeploymentImage(None, f"its model {owner.where} has no spec.image")
    metadata = owner.image_metadata or owner.spec.image_metadata
    base = metadata.base_image_ref if metadata else None
    if base:
        resolved = rebase(source, base)
        return DeploymentImage(resolved, f"baseImageRef {base} of {owner.where}, rebased onto {source}")
    if metadata is None and _awaits_inspection(owner.spec):
        return DeploymentImage(None, f"its model {owner.where} has not been inspected yet")
    legacy = legacy_base_image(source)
    if legacy is None:
        return DeploymentImage(
            None,
            f"{owner.where} has no baseImageRef and its tag {image_tag(source)!r} is not a version, so "
            "no aim-base image can be derived; clear its status.imageMetadata to inspect it again",
        )
    return DeploymentImage(
        legacy, f"{owner.where} has no baseImageRef: aim-base from its tag {image_tag(source)}, rebased"
    )


def _awaits_inspection(spec: AIMModelSpec) -> bool:
    return isinstance(classify(spec), ImageModel) and discovery_enabled(spec)


def match(
    model_name: str, spec: AIMModelSpec, model: FineTunedModel, candidates: Sequence[Candidate]
) -> FineTuneReport:
    verdicts: list[Verdict] = []
    official: list[Candidate] = []
    for c in sorted(candidates, key=lambda c: (c.kind, c.namespace or "", c.name)):
        if c.labels.get(labels.ORIGIN) == labels.ORIGIN_FINE_TUNED:
            verdicts.append(
                Verdict(c, "copy", "a copy made for a fine-tuned model, not an official template")
            )
        elif c.spec.aim_id != model.aim_id:
            verdicts.append(Verdict(c, "otherAimId", f"aimId {c.spec.aim_id!r}"))
        elif c.owner is None:
            detail = f"its model {c.spec.model_name!r} does not exist, so its version is unknown"
            verdicts.append(Verdict(c, "noOwner", detail))
        else:
            official.append(c)
    if model.policy == "pinned":
        version = model.pinned_version
    elif model.policy == "latest":
        version = newest(v for c in official if (v := c.version) is not None)
    else:
        version = None
    for c in official:
        if model.policy != "any" and c.version != version:
            verdicts.append(Verdict(c, "version", f"version {c.version or '(untagged)'}"))
            continue
        source = next((s for s in model.sources if s.model_id == c.spec.model_id), None)
        if source is None:
            verdicts.append(Verdict(c, "modelId", f"modelId {c.spec.model_id or '(none)'}"))
            continue
        assert c.owner is not None  # official candidates have owners
        image = deployment_image(model, c.owner)
        if image.image is None:
            verdicts.append(Verdict(c, "imageUnresolved", image.how, image))
            continue
        copy = _copy(model_name, spec, model, c, source.model_id, image.image)
        verdicts.append(Verdict(c, "matched", f"version {c.version}, modelId {source.model_id}", image, copy))
    return FineTuneReport(model, version, verdicts)


def _copy(
    model_name: str,
    spec: AIMModelSpec,
    model: FineTunedModel,
    source: Candidate,
    model_id: str,
    image: str,
) -> DesiredTemplate:
    owner = source.owner
    assert owner is not None
    inherited = source.spec
    hardware = merge_hardware(owner.spec.custom.hardware if owner.spec.custom else None, inherited.hardware)
    models = gpu_models_of(hardware)
    version = source.version or ""
    identity: list[object] = [
        model_name,
        source.kind,
        source.namespace or "",
        source.name,
        model_id,
        inherited.metric or "",
        inherited.precision or "",
        hardware_identity(hardware),
    ]
    parts = [model_name, "ft", version, inherited.precision or "", models[0] if len(models) == 1 else ""]
    sources = [s for s in model.sources if s.model_id == model_id]
    copy_spec = AIMServiceTemplateSpec(
        model_name=model_name,
        aim_id=model.aim_id,
        model_id=model_id,
        metric=inherited.metric,
        precision=inherited.precision,
        profile_id=inherited.profile_id,
        type=inherited.type,
        hardware=hardware,
        resources=inherited.resources,
        env=merge_env(inherited.env, spec.env),
        model_sources=sources,
        custom_profile=inherited.custom_profile,
        image_pull_secrets=spec.image_pull_secrets or inherited.image_pull_secrets,
        service_account_name=spec.service_account_name or inherited.service_account_name,
        runtime_config_name=spec.runtime_config_name or inherited.runtime_config_name,
    )
    annotations = {labels.DEPLOYMENT_IMAGE: image, labels.SOURCE_TEMPLATE: source.ref}
    if source.version:
        annotations[labels.SOURCE_VERSION] = source.version
    return DesiredTemplate(
        derived_name(parts, identity),
        normalized(copy_spec),
        {labels.MODEL: model_name, labels.ORIGIN: labels.ORIGIN_FINE_TUNED},
        annotations,
    )
