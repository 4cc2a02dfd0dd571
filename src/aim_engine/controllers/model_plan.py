"""What a model should own, decided from one observation of the world: the model reconciler's
plan, which `aim-engine explain model` prints too.

`ModelObservation` is everything the decision reads, gathered once by the reconciler (the
runtime config, the outcome of discovery, the fine-tuned candidates with their owners, the
templates and profiles that exist, which templates services use, the declared API version).
`plan` is pure: from that value alone it gives the templates and profiles to apply, what to
prune, and the inputs of the model_status. The reconciler then applies the plan and writes the model_status.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from aim_engine.api.v1alpha1 import (
    AnyModel,
    AnyTemplate,
)
from aim_engine.api.v1alpha2 import AnyProfile
from aim_engine.catalog import labels, model_status, runtime_config, templates
from aim_engine.catalog.fine_tuning import Candidate
from aim_engine.catalog.model_kind import ImageModel, ModelType
from aim_engine.catalog.profiles import DesiredProfile, plan_profiles
from aim_engine.catalog.template_spec import DesiredTemplate, discovery_enabled
from aim_engine.runtime.store import applied_by, controlled_by

PRUNABLE_ORIGINS = (labels.ORIGIN_AUTO, labels.ORIGIN_FINE_TUNED)


@dataclass(frozen=True, kw_only=True)
class ModelObservation:
    """The world as one reconcile of a model sees it."""

    model: AnyModel
    model_type: ModelType
    runtime: runtime_config.RuntimeConfigResolution
    image: model_status.ImageOutcome
    candidates: Sequence[Candidate]
    """For a fine-tuned model: the official templates of its family in scope, with owners."""
    templates: Mapping[str, AnyTemplate]
    """Templates of this scope that name the model (`spec.modelName`), by name."""
    profiles: Mapping[str, AnyProfile]
    """Profiles of this scope labelled with the model, by name."""
    in_use: frozenset[str]
    """Names of those templates that a service names or resolved."""
    declared_v1alpha2: bool
    field_manager: str


@dataclass(frozen=True, kw_only=True)
class ModelPlan:
    templates: templates.TemplatePlan
    """Every template the model should have, and why (the status reads it)."""
    apply_templates: list[DesiredTemplate]
    conflicts: list[str]
    """Planned names taken by templates the model does not control: never touched."""
    prune_templates: list[str]
    profiles: list[DesiredProfile] | None
    """None while it cannot be known (a v1alpha2 image model whose metadata is not read yet):
    the profiles that exist are left as they are."""
    apply_profiles: list[DesiredProfile]
    prune_profiles: list[str]


def plan(world: ModelObservation) -> ModelPlan:
    model = world.model
    planned = templates.plan(
        model.name, model.spec, world.image.metadata, world.candidates, kind=world.model_type
    )
    conflicts = [d.name for d in planned.templates if not _ours_or_free(world.templates.get(d.name), model)]
    wanted = {d.name for d in planned.templates}
    prune = (
        _prunable(world, world.templates.values(), wanted, check_use=True, origins=PRUNABLE_ORIGINS)
        if planned.prune
        else []
    )
    profiles = planned_profiles(world)
    if profiles is None:
        apply_profiles: list[DesiredProfile] = []
        prune_profiles: list[str] = []
    else:
        apply_profiles = [p for p in profiles if _ours_or_free(world.profiles.get(p.name), model)]
        prune_profiles = _prunable(world, world.profiles.values(), {p.name for p in profiles})
    return ModelPlan(
        templates=planned,
        apply_templates=[d for d in planned.templates if d.name not in conflicts],
        conflicts=conflicts,
        prune_templates=prune,
        profiles=profiles,
        apply_profiles=apply_profiles,
        prune_profiles=prune_profiles,
    )


def planned_profiles(world: ModelObservation) -> list[DesiredProfile] | None:
    """v1alpha2 image models publish one profile per recommended deployment; everything else
    none (a model re-declared as v1alpha1 loses the ones it had)."""
    model = world.model
    if not world.declared_v1alpha2 or not isinstance(world.model_type, ImageModel):
        return []
    metadata = world.image.metadata
    if metadata is None:
        unknowable = not discovery_enabled(model.spec) and model.spec.image_metadata is None
        return [] if unknowable else None
    return plan_profiles(model.name, model.spec, metadata)


def _ours_or_free(live: AnyTemplate | AnyProfile | None, model: AnyModel) -> bool:
    """Whether the model may apply an object of that name: none exists, or the model controls it."""
    return live is None or controlled_by(live, model)


def _prunable(
    world: ModelObservation,
    existing: Iterable[AnyTemplate | AnyProfile],
    wanted: set[str],
    *,
    check_use: bool = False,
    origins: Sequence[str] | None = None,
) -> list[str]:
    """Owned objects the model no longer plans and may delete: only what this operator's field
    manager applied for it (a look-alike a person made, even with our labels and owner
    reference, stays), of a generated origin, and, for templates, not used by a service."""
    found = []
    for obj in existing:
        if obj.name in wanted or not controlled_by(obj, world.model):
            continue
        if origins is not None and obj.labels.get(labels.ORIGIN) not in origins:
            continue
        if not applied_by(obj, world.field_manager) or (check_use and obj.name in world.in_use):
            continue
        found.append(obj.name)
    return sorted(found)
