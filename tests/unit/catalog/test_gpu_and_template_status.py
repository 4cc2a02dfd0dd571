from __future__ import annotations

from decimal import Decimal

from aim_engine.api.v1alpha1 import AIMModelSpec
from aim_engine.api.v1alpha1.template import AIMServiceTemplateSpec
from aim_engine.catalog import labels
from aim_engine.catalog.conditions import Cond, merge, transitions
from aim_engine.catalog.gpu import GIB, fits, model_for_device, node_gpus
from aim_engine.catalog.images import image_tag
from aim_engine.catalog.model_view import ModelView
from aim_engine.catalog.template_status import evaluate, hardware_summary


def test_device_ids_and_vram() -> None:
    assert model_for_device("74a1") == "MI300X"
    assert model_for_device("0x74A5") == "MI325X"
    assert model_for_device("dead") == "AMD-DEAD"
    node = node_gpus(
        "n1", {"amd.com/gpu.device-id": "74a1", "amd.com/gpu.vram": "192G"}, {"amd.com/gpu": "8"}
    )
    assert node is not None
    assert (node.model, node.vram_bytes, node.allocatable) == ("MI300X", Decimal(192 * GIB), 8)
    counted = node_gpus("n2", {"amd.com/gpu.device-id.74a5": "8"}, {})
    assert counted is not None and counted.model == "MI325X" and counted.vram_bytes == 256 * GIB
    assert node_gpus("cpu", {"kubernetes.io/os": "linux"}, {}) is None


def test_fits() -> None:
    inventory = [
        node_gpus("a", {"amd.com/gpu.device-id": "74a1"}, {"amd.com/gpu": 8}),
        node_gpus("b", {"amd.com/gpu.device-id": "740c"}, {"amd.com/gpu": 4}),
    ]
    nodes = [n for n in inventory if n]
    assert fits(nodes, count=1, models=["mi300x"], min_vram=None).available
    assert fits(nodes, count=1, models=[], min_vram="150Gi").available
    no_model = fits(nodes, count=1, models=["MI355X"], min_vram=None)
    assert (no_model.available, no_model.reason) == (False, "GPUNotAvailable")
    assert no_model.message == "No node has MI355X; GPUs in the cluster: MI250X on 1 node, MI300X on 1 node"
    no_vram = fits(nodes, count=1, models=["MI250X"], min_vram="150Gi")
    assert no_vram.reason == "VRAMNotAvailable"
    too_many = fits(nodes, count=16, models=[], min_vram=None)
    assert not too_many.available
    assert too_many.message == "No node can allocate 16 GPUs: 2 nodes with the GPU, the most on one node is 8"


def model(**fields: object) -> ModelView:
    spec = AIMModelSpec.model_validate({"image": "r/q:0.8.5", **fields})
    return ModelView(kind="AIMModel", name="qwen", namespace="team", uid="uid-1", spec=spec)


def test_template_ready_when_gpus_exist() -> None:
    spec = AIMServiceTemplateSpec.model_validate(
        {
            "modelName": "qwen",
            "metric": "latency",
            "precision": "fp8",
            "type": "optimized",
            "hardware": {"gpu": {"requests": 2, "model": "MI300X"}},
        }
    )
    node = node_gpus("a", {"amd.com/gpu.device-id": "74a1"}, {"amd.com/gpu": 8})
    assert node is not None
    result = evaluate(spec, {}, model(), [node])
    assert result.status == "Ready"
    assert result.hardware_summary == "2 x MI300X"
    assert result.version == "0.8.5"
    assert result.deployment_image == "r/q:0.8.5"
    assert result.profile.dump() == {
        "metadata": {
            "gpu": "MI300X",
            "gpu_count": 2,
            "metric": "latency",
            "precision": "fp8",
            "type": "optimized",
        }
    }
    assert [c.type for c in result.conditions] == ["ModelFound", "GPUReady", "Ready"]


def test_template_not_available_without_gpus_and_failed_without_model() -> None:
    spec = AIMServiceTemplateSpec.model_validate({"modelName": "qwen", "hardware": {"gpu": {"requests": 1}}})
    assert evaluate(spec, {}, model(), []).status == "NotAvailable"
    missing = evaluate(spec, {}, None, [])
    assert missing.status == "Failed"
    assert "spec.modelName 'qwen'" in missing.conditions[0].message


def test_deployment_image_annotation_wins() -> None:
    spec = AIMServiceTemplateSpec.model_validate({"modelName": "qwen"})
    result = evaluate(spec, {labels.DEPLOYMENT_IMAGE: "ghcr.io/silogen/aim-base:0.11"}, model(), [])
    assert result.deployment_image == "ghcr.io/silogen/aim-base:0.11"
    assert result.status == "Ready"
    assert result.hardware_summary == "CPU"


def test_image_tag_and_summary() -> None:
    assert image_tag("registry:5000/org/img:1.2") == "1.2"
    assert image_tag("registry:5000/org/img") is None
    assert image_tag("img@sha256:abc") is None
    assert hardware_summary(None) == "CPU"


def test_condition_merge_keeps_transition_time() -> None:
    first = merge(None, [Cond("Ready", "False", "A")], generation=1, timestamp="t1")
    second = merge(first, [Cond("Ready", "False", "B", "m")], generation=1, timestamp="t2")
    assert second[0].last_transition_time == "t1"
    third = merge(second, [Cond("Ready", "True", "B")], generation=2, timestamp="t3")
    assert third[0].last_transition_time == "t3"
    assert [t.reason for t in transitions(first, second)] == ["B"]
    assert transitions(second, second) == []


def test_fit_counts_the_resource_the_template_requests() -> None:
    """`gpu.resourceName` is what the container requests: fit is judged on it, not amd.com/gpu."""
    partitioned = node_gpus(
        "p", {"amd.com/gpu.device-id": "74a1"}, {"amd.com/gpu": "0", "amd.com/gpu-partition": "8"}
    )
    plain = node_gpus("a", {"amd.com/gpu.device-id": "74a1"}, {"amd.com/gpu": "8"})
    assert partitioned is not None and plain is not None
    assert fits([partitioned], count=2, models=[], min_vram=None, resource="amd.com/gpu-partition").available
    assert not fits([partitioned], count=2, models=[], min_vram=None).available  # 0 whole GPUs
    missing = fits([plain], count=1, models=[], min_vram=None, resource="amd.com/gpu-partition")
    assert not missing.available and "amd.com/gpu-partition" in missing.message
    spec = AIMServiceTemplateSpec.model_validate(
        {
            "modelName": "qwen",
            "hardware": {
                "gpu": {"requests": 2, "models": ["MI300X"], "resourceName": "amd.com/gpu-partition"}
            },
        }
    )
    assert evaluate(spec, {}, model(), [partitioned]).status == "Ready"
    assert evaluate(spec, {}, model(), [plain]).status == "NotAvailable"


def test_a_node_signature_changes_with_any_gpu_resource() -> None:
    from aim_engine.api.core import Node
    from aim_engine.controllers.gpu_nodes import gpu_signature_changed

    def node(allocatable: dict[str, str], **labels: str) -> Node:
        body = {"metadata": {"name": "n", "labels": labels}, "status": {"allocatable": allocatable}}
        return Node.model_validate(body)

    gpu = {"amd.com/gpu.device-id": "74a1"}
    before = node({"amd.com/gpu": "8", "amd.com/gpu-partition": "8", "cpu": "64"}, **gpu)
    assert gpu_signature_changed(
        before, node({"amd.com/gpu": "8", "amd.com/gpu-partition": "4", "cpu": "64"}, **gpu)
    )
    assert not gpu_signature_changed(
        before, node({"amd.com/gpu": "8", "amd.com/gpu-partition": "8", "cpu": "32"}, **gpu)
    )
    assert gpu_signature_changed(None, before) and gpu_signature_changed(before, None)
    assert not gpu_signature_changed(None, node({"cpu": "4"}))  # a node without GPUs comes: nothing to do
