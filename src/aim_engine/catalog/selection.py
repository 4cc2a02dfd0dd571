"""Automatic template selection for a service (AIMService's reconciler will call it). Pure.

Every candidate template gets a verdict: the first rule that rejects it, or its rank among
the eligible ones. The rules, in order:

1. `TemplateNotReady`: the template's status is not Ready (`RequiredGPUNotInCluster` instead
   when it is NotAvailable because no node has its GPU);
2. `UnoptimizedTemplateFiltered`: `unoptimized` or `preview` without `allowUnoptimized: true`;
3. `ServiceOverridesNotMatched`: `spec.overrides` (metric, precision, GPU model, GPU count)
   differ from the template's;
4. `RequiredGPUNotInCluster`: no node has any GPU model the template accepts;
5. `ShadowedByNamespaceTemplate`: a namespace template is eligible, so cluster ones are not.

Eligible templates are ranked by type (optimized, preview, unoptimized), then GPU (newest
generation first), then metric (latency, throughput), then precision (`PRECISION_ORDER`).
A tie on all four is broken by name, and reported. A service that already runs an eligible
template keeps it (a better template appearing later does not redeploy it).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field

TYPE_ORDER = ("optimized", "preview", "unoptimized")
GPU_ORDER = ("MI355X", "MI350X", "MI325X", "MI300X", "MI300A", "MI250X", "MI250", "MI210", "MI100")
"""Preferred GPU models, newest first; others follow alphabetically, CPU-only templates last."""
METRIC_ORDER = ("latency", "throughput")
PRECISION_ORDER = ("fp8", "bf16", "fp16", "fp4", "int8", "int4", "fp32", "auto")
MAX_LISTED = 8
"""Candidates named in a rejection message; the rest are counted."""


@dataclass(frozen=True)
class TemplateOption:
    """What selection needs to know of one candidate template."""

    name: str
    namespaced: bool
    status: str | None
    type: str | None
    metric: str | None
    precision: str | None
    gpu_models: tuple[str, ...] = ()
    gpu_count: int | None = None
    status_message: str = ""
    """The template's own word on why it is not Ready (its Ready condition's message), which
    names the nodes and GPU counts it was judged on."""

    @property
    def scope(self) -> str:
        return "namespace" if self.namespaced else "cluster"


@dataclass(frozen=True)
class Overrides:
    metric: str | None = None
    precision: str | None = None
    gpu_model: str | None = None
    gpu_count: int | None = None


@dataclass(frozen=True)
class Verdict:
    option: TemplateOption
    rule: str | None
    """The first rule that rejected it; None when eligible."""
    detail: str
    rank: int | None = None
    """1 for the best eligible template."""


@dataclass(frozen=True)
class Selection:
    chosen: TemplateOption | None
    reason: str
    message: str
    verdicts: list[Verdict] = field(default_factory=list)
    tied: list[str] = field(default_factory=list)
    """Names that ranked equal with the chosen one (chosen by name among them)."""


def _position(order: Sequence[str], value: str | None) -> int:
    return order.index(value) if value in order else len(order)


def preference(option: TemplateOption) -> tuple[object, ...]:
    """Sort key, best first (lower is better); the name is not part of it."""
    if option.gpu_models:
        best = min(option.gpu_models, key=lambda g: (_position(GPU_ORDER, g.upper()), g))
        gpu: tuple[int, str] = (_position(GPU_ORDER, best.upper()), best)
    else:
        gpu = (len(GPU_ORDER) + 1, "")
    return (
        _position(TYPE_ORDER, option.type or "unoptimized"),
        gpu,
        _position(METRIC_ORDER, option.metric),
        _position(PRECISION_ORDER, option.precision),
    )


def _rejection(
    option: TemplateOption, allow_unoptimized: bool, overrides: Overrides, gpus: Collection[str]
) -> tuple[str, str] | None:
    accepted = {g.upper() for g in option.gpu_models}
    missing_gpu = bool(accepted) and not accepted & {g.upper() for g in gpus}
    if option.status != "Ready":
        if option.status == "NotAvailable" and missing_gpu:
            # Not ready *because* its GPU is missing: say so, that is what the user can act on
            # (the template's own message counts the nodes of each GPU model).
            needs = f"needs {'/'.join(option.gpu_models)}, which no node has"
            return "RequiredGPUNotInCluster", option.status_message or needs
        detail = f" ({option.status_message})" if option.status_message else ""
        return "TemplateNotReady", f"status {option.status or 'not reported yet'}{detail}"
    kind = option.type or "unoptimized"
    if kind in ("unoptimized", "preview") and not allow_unoptimized:
        return "UnoptimizedTemplateFiltered", f"type {kind}"
    for what, wanted, actual in (
        ("metric", overrides.metric, option.metric),
        ("precision", overrides.precision, option.precision),
        ("GPU count", overrides.gpu_count, option.gpu_count),
    ):
        if wanted is not None and wanted != actual:
            return "ServiceOverridesNotMatched", f"{what} {actual} (overrides ask for {wanted})"
    if overrides.gpu_model is not None and overrides.gpu_model.upper() not in accepted:
        shown = "/".join(option.gpu_models) or "no GPU model"
        return "ServiceOverridesNotMatched", f"GPU {shown} (overrides ask for {overrides.gpu_model})"
    if missing_gpu:
        return "RequiredGPUNotInCluster", f"needs {'/'.join(option.gpu_models)}, which no node has"
    return None


def select(
    options: Sequence[TemplateOption],
    *,
    allow_unoptimized: bool = False,
    overrides: Overrides | None = None,
    gpus_in_cluster: Collection[str] = (),
    current: str | None = None,
) -> Selection:
    overrides = overrides or Overrides()
    ordered = sorted(options, key=lambda o: (not o.namespaced, o.name))
    verdicts: dict[int, Verdict] = {}
    eligible: list[int] = []
    for i, option in enumerate(ordered):
        rejected = _rejection(option, allow_unoptimized, overrides, gpus_in_cluster)
        if rejected is None:
            eligible.append(i)
        else:
            verdicts[i] = Verdict(option, rejected[0], rejected[1])
    if any(ordered[i].namespaced for i in eligible):
        for i in [i for i in eligible if not ordered[i].namespaced]:
            verdicts[i] = Verdict(ordered[i], "ShadowedByNamespaceTemplate", "a namespace template qualifies")
        eligible = [i for i in eligible if ordered[i].namespaced]
    ranked = sorted(eligible, key=lambda i: (preference(ordered[i]), ordered[i].name))
    for rank, i in enumerate(ranked, start=1):
        verdicts[i] = Verdict(ordered[i], None, "eligible", rank)
    all_verdicts = [verdicts[i] for i in range(len(ordered))]
    if not ranked:
        return Selection(None, "NoEligibleTemplate", _nothing_message(all_verdicts), all_verdicts)
    best = ordered[ranked[0]]
    kept = next((ordered[i] for i in ranked if ordered[i].name == current), None)
    if kept is not None and kept is not best:
        message = (
            f"Keeps template {kept.name} ({kept.scope}), which still qualifies, although {best.name} "
            "now ranks higher: a deployed service does not move by itself (change its spec, or name "
            "the template, to move it)"
        )
        return Selection(kept, "KeptCurrent", message, all_verdicts)
    tied = [ordered[i].name for i in ranked[1:] if preference(ordered[i]) == preference(best)]
    message = (
        f"Selected template {best.name} ({best.scope}): best of {len(ranked)} eligible "
        "by type, GPU, metric, precision"
    )
    if tied:
        message += f"; tied with {', '.join(tied)}, chosen by name"
    return Selection(best, "Resolved", message, all_verdicts, tied)


def _nothing_message(verdicts: Sequence[Verdict]) -> str:
    if not verdicts:
        return "The model has no templates yet"
    listed = "; ".join(f"{v.option.name}: {v.rule} ({v.detail})" for v in verdicts[:MAX_LISTED])
    more = f"; and {len(verdicts) - MAX_LISTED} more" if len(verdicts) > MAX_LISTED else ""
    rules = {v.rule for v in verdicts}
    hints = []
    if "UnoptimizedTemplateFiltered" in rules:
        hints.append("set spec.template.allowUnoptimized: true (custom models have unoptimized templates)")
    if "ServiceOverridesNotMatched" in rules:
        hints.append("relax spec.overrides")
    hints.append("name a template in spec.template.name")
    return f"No template qualifies: {listed}{more}. To fix: {', or '.join(hints)}"
