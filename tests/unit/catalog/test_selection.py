"""Automatic template selection: each rejection rule, the preference order, ties, stickiness
and the bounded message (catalog/selection.py)."""

from __future__ import annotations

from typing import Any

from aim_engine.catalog.selection import Overrides, TemplateOption, select


def option(name: str, **fields: Any) -> TemplateOption:
    values: dict[str, Any] = {
        "namespaced": False,
        "status": "Ready",
        "type": "optimized",
        "metric": "latency",
        "precision": "fp8",
        "gpu_models": ("MI300X",),
        "gpu_count": 1,
    }
    values.update(fields)
    return TemplateOption(name=name, **values)


GPUS = ("MI300X", "MI325X")


def test_each_rule_rejects_with_its_reason() -> None:
    result = select(
        [
            option("not-ready", status="NotAvailable"),
            option("unopt", type="unoptimized"),
            option("preview", type="preview"),
            option("thr", metric="throughput"),
            option("two", gpu_count=2),
            option("mi355", gpu_models=("MI355X",)),
            option("ok"),
        ],
        overrides=Overrides(metric="latency", gpu_count=1),
        gpus_in_cluster=GPUS,
    )
    rules = {v.option.name: v.rule for v in result.verdicts}
    assert rules == {
        "not-ready": "TemplateNotReady",
        "unopt": "UnoptimizedTemplateFiltered",
        "preview": "UnoptimizedTemplateFiltered",
        "thr": "ServiceOverridesNotMatched",
        "two": "ServiceOverridesNotMatched",
        "mi355": "RequiredGPUNotInCluster",
        "ok": None,
    }
    assert result.chosen is not None and result.chosen.name == "ok"
    assert result.reason == "Resolved"


def test_unoptimized_gate_opens_with_allow_unoptimized() -> None:
    only = [option("custom", type="unoptimized")]
    assert select(only, gpus_in_cluster=GPUS).chosen is None
    opened = select(only, allow_unoptimized=True, gpus_in_cluster=GPUS)
    assert opened.chosen is not None and opened.chosen.name == "custom"


def test_gpu_model_override_and_namespace_shadowing() -> None:
    options = [
        option("cluster-325", gpu_models=("MI325X",)),
        option("ns-300", namespaced=True),
        option("ns-325", namespaced=True, gpu_models=("MI325X",)),
    ]
    result = select(options, overrides=Overrides(gpu_model="mi325x"), gpus_in_cluster=GPUS)
    assert result.chosen is not None and result.chosen.name == "ns-325"
    rules = {v.option.name: v.rule for v in result.verdicts}
    assert rules["cluster-325"] == "ShadowedByNamespaceTemplate"
    assert rules["ns-300"] == "ServiceOverridesNotMatched"


def test_preference_type_then_gpu_then_metric_then_precision() -> None:
    options = [
        option("preview-325", type="preview", gpu_models=("MI325X",)),
        option("opt-300-thr", metric="throughput"),
        option("opt-325-thr-fp16", gpu_models=("MI325X",), metric="throughput", precision="fp16"),
        option("opt-325-thr-fp8", gpu_models=("MI325X",), metric="throughput"),
    ]
    result = select(options, allow_unoptimized=True, gpus_in_cluster=GPUS)
    ranks = {v.option.name: v.rank for v in result.verdicts}
    assert ranks == {"opt-325-thr-fp8": 1, "opt-325-thr-fp16": 2, "opt-300-thr": 3, "preview-325": 4}


def test_ties_are_broken_by_name_and_said() -> None:
    result = select([option("b"), option("a")], gpus_in_cluster=GPUS)
    assert result.chosen is not None and result.chosen.name == "a"
    assert result.tied == ["b"]
    assert "tied with b, chosen by name" in result.message


def test_a_running_service_keeps_its_template_while_it_qualifies() -> None:
    options = [option("old", precision="fp16"), option("better")]
    kept = select(options, gpus_in_cluster=GPUS, current="old")
    assert kept.chosen is not None and kept.chosen.name == "old"
    assert kept.reason == "KeptCurrent"
    gone = select([option("old", status="Degraded"), option("better")], gpus_in_cluster=GPUS, current="old")
    assert gone.chosen is not None and gone.chosen.name == "better"


def test_nothing_qualifies_message_is_bounded_and_says_what_to_change() -> None:
    options = [option(f"t{i:02d}", type="unoptimized") for i in range(30)]
    result = select(options, gpus_in_cluster=GPUS)
    assert result.chosen is None and result.reason == "NoEligibleTemplate"
    assert "t00: UnoptimizedTemplateFiltered (type unoptimized)" in result.message
    assert "and 22 more" in result.message
    assert "set spec.template.allowUnoptimized: true" in result.message
    assert "name a template in spec.template.name" in result.message
    assert len(result.message) < 1000
    assert select([]).message == "The model has no templates yet"


def test_keeping_the_best_template_says_the_same_as_choosing_it() -> None:
    # The message must not change between the reconcile that chooses and the ones that keep,
    # or every resync would write the status again.
    options = [option("a"), option("b", precision="fp16")]
    first = select(options, gpus_in_cluster=GPUS)
    again = select(options, gpus_in_cluster=GPUS, current="a")
    assert (again.reason, again.message) == (first.reason, first.message) == ("Resolved", first.message)


def test_not_available_for_a_missing_gpu_says_the_gpu_is_missing() -> None:
    result = select(
        [
            option("mi355", status="NotAvailable", gpu_models=("MI355X",)),
            option("sick", status="NotAvailable"),
        ],
        gpus_in_cluster=GPUS,
    )
    rules = {v.option.name: v.rule for v in result.verdicts}
    assert rules == {"mi355": "RequiredGPUNotInCluster", "sick": "TemplateNotReady"}
