"""Template choice for services: named templates, the model's default, automatic selection with
its phases, and which templates belong to which model (catalog/service_templates.py)."""

from __future__ import annotations

from typing import Any

from aim_engine.api.v1alpha1 import AIMModelSpec, AIMServiceTemplateSpec, AIMServiceTemplateStatus
from aim_engine.api.v1alpha1.service import ServiceOverrides
from aim_engine.catalog import service_templates as st
from aim_engine.catalog.model_view import ModelView

CLUSTER_MODEL = ModelView(
    kind="AIMClusterModel",
    name="qwen",
    namespace=None,
    uid="m1",
    spec=AIMModelSpec(image="i:1"),
    phase="Ready",
)
NAMESPACE_MODEL = ModelView(
    kind="AIMModel", name="qwen", namespace="ml", uid="m2", spec=AIMModelSpec(image="i:1"), phase="Ready"
)


def template(
    name: str, *, namespace: str | None = None, status: str | None = "Ready", **spec: Any
) -> st.TemplateView:
    body: dict[str, Any] = {"modelName": "qwen", "type": "optimized", "metric": "latency", "precision": "fp8"}
    body.update(spec)
    parsed = AIMServiceTemplateSpec.model_validate(body)
    state = AIMServiceTemplateStatus.model_validate(
        {"status": status, "resolvedHardware": body.get("hardware")} if status else {}
    )
    kind = "AIMServiceTemplate" if namespace else "AIMClusterServiceTemplate"
    return st.TemplateView(kind, name, namespace, f"uid-{name}", parsed, state if status else None, {})


MI300X = {"gpu": {"requests": 1, "models": ["MI300X"]}}


def test_a_named_template_must_exist_belong_to_the_model_and_be_ready() -> None:
    missing = st.named(None, "nope", "spec.template.name", CLUSTER_MODEL)
    assert (missing.condition.reason, missing.phase) == ("TemplateNotFound", "Failed")
    assert "spec.template.name 'nope'" in missing.condition.message
    other = st.named(template("t", modelName="llama"), "t", "spec.template.name", CLUSTER_MODEL)
    assert (other.condition.reason, other.phase) == ("TemplateModelMismatch", "Failed")
    waiting = st.named(template("t", status="Pending"), "t", "spec.template.name", CLUSTER_MODEL)
    assert (waiting.condition.reason, waiting.phase, waiting.template) == (
        "TemplateNotReady",
        "Pending",
        None,
    )
    broken = st.named(template("t", status="Failed"), "t", "spec.template.name", CLUSTER_MODEL)
    assert broken.phase == "Failed"
    ok = st.named(template("t", type="unoptimized"), "t", "spec.template.name", CLUSTER_MODEL)
    # Naming a template bypasses the automatic gates (unoptimized here).
    assert ok.template is not None and ok.condition.reason == "Resolved" and ok.phase is None


def test_cluster_templates_do_not_belong_to_a_namespace_model_of_the_same_name() -> None:
    assert st.belongs_to(template("c"), CLUSTER_MODEL)
    assert not st.belongs_to(template("c"), NAMESPACE_MODEL)
    assert st.belongs_to(template("n", namespace="ml"), NAMESPACE_MODEL)
    assert st.belongs_to(template("n", namespace="ml"), CLUSTER_MODEL)


def test_automatic_selection_phases() -> None:
    def choose(*candidates: st.TemplateView, **kwargs: Any) -> st.TemplateChoice:
        values: dict[str, Any] = {
            "allow_unoptimized": False,
            "overrides": None,
            "gpus_in_cluster": {"MI300X"},
            "current": None,
        }
        values.update(kwargs)
        return st.automatic(list(candidates), **values)

    none = choose()
    assert (none.condition.reason, none.phase) == ("NoEligibleTemplate", "Failed")
    assert "no service templates" in none.condition.message
    gated = choose(template("u", type="unoptimized", hardware=MI300X))
    assert (gated.phase, gated.template) == ("Failed", None)  # only the user can open the gate
    assert "allowUnoptimized: true" in gated.condition.message
    settling = choose(template("p", status="Pending", hardware=MI300X), template("u", type="unoptimized"))
    assert settling.phase == "Pending"  # a template may still become ready
    chosen = choose(template("u", type="unoptimized", hardware=MI300X), allow_unoptimized=True)
    assert chosen.template is not None and chosen.template.name == "u" and chosen.selection is not None
    overridden = choose(
        template("lat", hardware=MI300X),
        template("thr", metric="throughput", hardware=MI300X),
        overrides=ServiceOverrides(metric="throughput"),
    )
    assert overridden.template is not None and overridden.template.name == "thr"


def test_gpu_count_and_model_come_from_the_resolved_hardware() -> None:
    view = template("t", hardware={"gpu": {"requests": 2, "model": "MI325X"}})
    option = st.option_of(view)
    assert (option.gpu_models, option.gpu_count, option.namespaced) == (("MI325X",), 2, False)
    overrides = st.overrides_of(
        ServiceOverrides.model_validate({"hardware": {"gpu": {"requests": 2, "model": "MI325X"}}})
    )
    assert (overrides.gpu_model, overrides.gpu_count) == ("MI325X", 2)
