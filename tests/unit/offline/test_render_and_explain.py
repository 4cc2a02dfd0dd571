"""`aim-engine render` and `aim-engine explain` offline: the examples catalog, determinism,
output forms, exit statuses, metadata snapshots, --offline, --gpu, and explain's account of
every rejection rule and every deployment-image path. Nothing here touches the network: every
render runs --offline unless it uses only spec.imageMetadata."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from aim_engine.cli import main

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"
V1 = "aim.eai.amd.com/v1alpha1"


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def write(tmp_path: Path, docs: list[dict[str, Any]], name: str = "catalog.yaml") -> str:
    path = tmp_path / name
    path.write_text(yaml.safe_dump_all(docs))
    return str(path)


def obj(kind: str, name: str, spec: dict[str, Any], namespace: str | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if namespace:
        meta["namespace"] = namespace
    return {"apiVersion": V1, "kind": kind, "metadata": meta, "spec": spec}


def deployments(*rows: tuple[str, int, str, str]) -> list[dict[str, Any]]:
    return [{"gpuModel": g, "gpuCount": c, "metric": m, "precision": p} for g, c, m, p in rows]


def one_deployment_model() -> dict[str, Any]:
    """The spec of an image model whose metadata recommends one MI300X deployment."""
    return {
        "image": "amdenterpriseai/qwen:1.0",
        "imageMetadata": {
            "model": {
                "canonicalName": "Qwen/Qwen3-32B",
                "recommendedDeployments": deployments(("MI300X", 1, "latency", "fp8")),
            }
        },
    }


def test_examples_render_offline_and_identically_twice(capsys: pytest.CaptureFixture[str]) -> None:
    code, first, err = run(["render", "-f", str(EXAMPLES), "--offline", "-o", "yaml"], capsys)
    again = run(["render", "-f", str(EXAMPLES), "--offline", "-o", "yaml"], capsys)
    assert again[1] == first
    # One service is blocked by the unoptimized gate, as the examples intend: it rendered, so
    # exit 0, and one stderr line names the blocked service and its reason.
    assert code == 0
    summary = [line for line in err.splitlines() if "would fail" in line]
    assert len(summary) == 1 and "AIMService ml-team/custom-blocked: NoEligibleTemplate" in summary[0]
    objects = list(yaml.safe_load_all(first))
    kinds = {o["kind"] for o in objects}
    assert {
        "Node",
        "AIMClusterModel",
        "AIMModel",
        "AIMServiceTemplate",
        "AIMService",
        "InferenceService",
    } <= kinds
    assert "Secret" not in kinds and "Namespace" not in kinds
    for o in objects:
        assert not {"uid", "resourceVersion", "creationTimestamp", "managedFields"} & set(o["metadata"])
        assert "lastTransitionTime" not in json.dumps(o)
    services = {o["metadata"]["name"]: o for o in objects if o["kind"] == "AIMService"}
    assert services["chat"]["status"]["status"] == "Starting"
    assert services["custom-named"]["status"]["status"] == "Starting"
    assert services["chat-ft"]["status"]["resolvedImage"] == "amdenterpriseai/aim-base:0.9"
    assert services["custom-blocked"]["status"]["status"] == "Failed"


def test_check_makes_failed_objects_exit_1_and_prints_the_same(capsys: pytest.CaptureFixture[str]) -> None:
    plain = run(["render", "-f", str(EXAMPLES), "--offline"], capsys)
    checked = run(["render", "-f", str(EXAMPLES), "--offline", "--check"], capsys)
    assert (plain[0], checked[0]) == (0, 1)
    # The same objects and the same stderr summary either way: --check changes the status only.
    assert checked[1:] == plain[1:]
    assert "AIMService   ml-team     custom-blocked   Failed" in checked[1]
    assert "custom-blocked: NoEligibleTemplate" in checked[2]


def test_check_passes_a_healthy_catalog_and_keeps_bad_input_at_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = one_deployment_model()
    healthy = write(tmp_path, [obj("AIMClusterModel", "qwen", spec)])
    code, _, err = run(["render", "-f", healthy, "--gpu", "MI300X=8", "--offline", "--check"], capsys)
    assert code == 0, err
    broken = {"image": "x:1", "discovery": {"extractMetadata": "sometimes"}}
    bad = write(tmp_path, [obj("AIMClusterModel", "broken", broken)], "bad.yaml")
    code, _, err = run(["render", "-f", bad, "--offline", "--check"], capsys)
    assert code == 2 and "AIMClusterModel broken" in err


def test_table_and_json_outputs(capsys: pytest.CaptureFixture[str]) -> None:
    _, table, _ = run(["render", "-f", str(EXAMPLES), "--offline"], capsys)
    lines = table.splitlines()
    header = next(line for line in lines if line.startswith("KIND") and "TEMPLATES" in line)
    assert header.split() == ["KIND", "NAME", "STATUS", "SOURCE", "IMAGE", "MODEL", "TEMPLATES"]
    assert any(line.split()[:4] == ["AIMService", "ml-team", "custom-blocked", "Failed"] for line in lines)
    _, listing, _ = run(["render", "-f", str(EXAMPLES), "--offline", "-o", "json"], capsys)
    document = json.loads(listing)
    assert (document["apiVersion"], document["kind"]) == ("v1", "List")
    assert len(document["items"]) == len(
        list(yaml.safe_load_all(run(["render", "-f", str(EXAMPLES), "--offline", "-o", "yaml"], capsys)[1]))
    )


def test_healthy_catalog_exits_zero_and_stdin_works(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    docs = [obj("AIMClusterModel", "qwen", one_deployment_model())]
    monkeypatch.setattr("sys.stdin", io.StringIO(yaml.safe_dump_all(docs)))
    code, out, err = run(["render", "-f", "-", "--gpu", "MI300X=8", "--offline"], capsys)
    assert code == 0, err
    assert "gpu-mi300x" in out and "qwen-1x-mi300x-lat-fp8" in out
    assert "no GPUs are known" not in err


def test_no_gpus_is_said_and_templates_are_not_available(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = one_deployment_model()
    code, out, err = run(["render", "-f", write(tmp_path, [obj("AIMClusterModel", "qwen", spec)])], capsys)
    assert code == 0
    assert "no GPUs are known" in err and "--gpu MI300X=8" in err
    assert "NotAvailable" in out


def test_offline_names_the_images_it_could_not_resolve(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    docs = [obj("AIMClusterModel", "remote", {"image": "registry.example.com/team/qwen:1.0"})]
    code, out, err = run(["render", "-f", write(tmp_path, docs), "--offline", "-o", "yaml"], capsys)
    assert code == 0
    assert "offline: no metadata for 1 image(s): registry.example.com/team/qwen:1.0" in err
    model = next(yaml.safe_load_all(out))
    ready = next(c for c in model["status"]["conditions"] if c["type"] == "Ready")
    assert ready["reason"] == "MetadataUnavailable" and "--metadata" in ready["message"]


def test_metadata_snapshots_stand_in_for_the_registry(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    snapshot = {
        "image": "docker.io/amdenterpriseai/aim-qwen-qwen3-32b:0.8.5",
        "digest": "sha256:" + "ab" * 32,
        "model": {
            "canonicalName": "Qwen/Qwen3-32B",
            "recommendedDeployments": deployments(("MI300X", 1, "latency", "fp8")),
        },
        "baseImageRef": "docker.io/amdenterpriseai/aim-base:0.8",
    }
    (tmp_path / "snapshots.json").write_text(json.dumps([snapshot]))
    docs = [obj("AIMClusterModel", "qwen", {"image": "amdenterpriseai/aim-qwen-qwen3-32b:0.8.5"})]
    argv = [
        "render",
        "-f",
        write(tmp_path, docs),
        "--offline",
        "--gpu",
        "MI300X=8",
        "--metadata",
        str(tmp_path / "snapshots.json"),
        "-o",
        "yaml",
    ]
    code, out, err = run(argv, capsys)
    assert code == 0, err
    model = next(o for o in yaml.safe_load_all(out) if o["kind"] == "AIMClusterModel")
    assert model["status"]["status"] == "Ready"
    assert model["status"]["imageDigest"] == snapshot["digest"]
    assert model["status"]["imageMetadata"]["baseImageRef"] == snapshot["baseImageRef"]


def test_bad_input_is_exit_2_naming_the_object_and_unknown_kinds_are_skipped(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = [obj("AIMClusterModel", "broken", {"image": "x:1", "discovery": {"extractMetadata": "sometimes"}})]
    code, _, err = run(["render", "-f", write(tmp_path, bad, "bad.yaml")], capsys)
    assert code == 2 and "AIMClusterModel broken" in err
    other = [{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings"}}]
    code, _, err = run(["render", "-f", write(tmp_path, other, "other.yaml"), "--gpu", "MI300X=1"], capsys)
    assert code == 0 and "skipped 1 object(s)" in err and "ConfigMap settings" in err
    code, _, err = run(["render", "-f", str(tmp_path / "missing.yaml")], capsys)
    assert code == 2 and "no such file" in err
    code, _, err = run(["render", "-f", write(tmp_path, other, "gpu.yaml"), "--gpu", "H100=8"], capsys)
    assert code == 2 and "unknown GPU model 'H100'" in err


RULES_CATALOG: list[dict[str, Any]] = [
    obj(
        "AIMClusterModel",
        "qwen",
        {
            "image": "amdenterpriseai/qwen:1.0",
            "imageMetadata": {
                "model": {
                    "canonicalName": "Qwen/Qwen3-32B",
                    "recommendedDeployments": deployments(
                        ("MI300X", 1, "latency", "fp8"),
                        ("MI300X", 1, "throughput", "fp16"),
                        ("MI355X", 1, "latency", "fp8"),
                    ),
                }
            },
        },
    ),
    obj(
        "AIMServiceTemplate",
        "qwen-mine",
        {
            "modelName": "qwen",
            "type": "optimized",
            "metric": "latency",
            "precision": "bf16",
            "hardware": {"gpu": {"requests": 1, "model": "MI300X"}},
        },
        "ml",
    ),
    obj(
        "AIMServiceTemplate",
        "qwen-draft",
        {
            "modelName": "qwen",
            "type": "preview",
            "metric": "latency",
            "precision": "fp8",
            "hardware": {"gpu": {"requests": 1, "model": "MI300X"}},
        },
        "ml",
    ),
    obj(
        "AIMServiceTemplate",
        "qwen-broken",
        {"modelName": "qwen", "type": "optimized", "hardware": {"gpu": {"requests": 99, "model": "MI300X"}}},
        "ml",
    ),
    obj("AIMService", "chat", {"model": {"name": "qwen"}, "overrides": {"precision": "bf16"}}, "ml"),
]


def test_explain_service_names_every_rule_and_the_winner(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    catalog = write(tmp_path, RULES_CATALOG)
    code, out, err = run(
        ["explain", "service", "chat", "-n", "ml", "-f", catalog, "--gpu", "MI300X=8"], capsys
    )
    assert code == 0, err

    def row(template: str) -> str:
        return next(line for line in out.splitlines() if line.split()[1:2] == [template])

    assert row("qwen-mine").split()[0] == "1" and row("qwen-mine").endswith("chosen")
    assert "UnoptimizedTemplateFiltered: type preview" in row("qwen-draft")
    assert "TemplateNotReady: status NotAvailable" in row("qwen-broken")
    cluster = [line for line in out.splitlines() if "qwen-1x-mi300x" in line]
    assert all(
        "ShadowedByNamespaceTemplate" in line or "ServiceOverridesNotMatched" in line for line in cluster
    )
    assert any(
        "RequiredGPUNotInCluster: No node has MI355X; GPUs in the cluster:" in line
        for line in out.splitlines()
    )
    assert "requests.amd.com/gpu" in out and "template profile" in out
    assert "from spec.image of AIMClusterModel qwen" in out
    # Without the overrides, the cluster's own templates lose to the namespace template.
    plain = [*RULES_CATALOG[:-1], obj("AIMService", "chat", {"model": {"name": "qwen"}}, "ml")]
    _, out, _ = run(
        [
            "explain",
            "service",
            "chat",
            "-n",
            "ml",
            "-f",
            write(tmp_path, plain, "plain.yaml"),
            "--gpu",
            "MI300X=8",
        ],
        capsys,
    )
    assert "ShadowedByNamespaceTemplate: a namespace template qualifies" in out


def test_explain_service_overrides_and_missing_objects(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    docs = [
        *RULES_CATALOG[:1],
        obj("AIMService", "thr", {"model": {"name": "qwen"}, "overrides": {"metric": "throughput"}}, "ml"),
    ]
    catalog = write(tmp_path, docs)
    code, out, _ = run(["explain", "service", "thr", "-n", "ml", "-f", catalog, "--gpu", "MI300X=8"], capsys)
    assert code == 0
    assert "ServiceOverridesNotMatched: metric latency (overrides ask for throughput)" in out
    code, _, err = run(["explain", "service", "nope", "-n", "ml", "-f", catalog], capsys)
    assert code == 1 and "AIMService ml/nope not found" in err
    code, _, err = run(["explain", "service", "thr"], capsys)
    assert code == 2 and "give -f PATH" in err


def base_model(name: str, image: str, metadata: dict[str, Any] | None, **spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"image": image, **spec}
    if metadata is not None:
        body["imageMetadata"] = metadata
    return obj("AIMClusterModel", name, body)


def family(base: str | None = None) -> dict[str, Any]:
    deployment = {
        "gpuModel": "MI300X",
        "gpuCount": 1,
        "metric": "latency",
        "precision": "fp8",
        "modelId": "org/llm-ft",
    }
    metadata: dict[str, Any] = {"model": {"canonicalName": "org/llm", "recommendedDeployments": [deployment]}}
    if base:
        metadata["baseImageRef"] = base
    return metadata


def test_explain_model_shows_every_deployment_image_path(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = [{"modelId": "org/llm-ft", "sourceUri": "s3://bucket/llm-ft/"}]
    docs = [
        # baseImageRef, rebased onto the owner's registry and organisation
        base_model(
            "rebased", "registry.example.com/team/llm:1.2.0", family("docker.io/amdenterpriseai/aim-base:1.2")
        ),
        # metadata without baseImageRef: aim-base from the tag
        base_model("legacy", "registry.example.com/team/llm:1.3.4", family()),
        # never inspected (discovery off, no metadata) but its templates exist: legacy at once
        base_model(
            "uninspected", "registry.example.com/team/llm:1.4.0", None, discovery={"extractMetadata": False}
        ),
        obj(
            "AIMClusterServiceTemplate",
            "uninspected-t",
            {
                "modelName": "uninspected",
                "aimId": "org/llm",
                "modelId": "org/llm-ft",
                "type": "optimized",
                "hardware": {"gpu": {"requests": 1, "model": "MI300X"}},
            },
        ),
        # a tag that is not a version: nothing can be derived
        base_model("nightly", "registry.example.com/team/llm:nightly", family()),
        obj(
            "AIMModel",
            "ft-any",
            {"aimId": "org/llm", "custom": {"versionPolicy": "any"}, "modelSources": source},
            "ml",
        ),
        obj(
            "AIMModel",
            "ft-pinned",
            {"aimId": "org/llm", "image": "registry.example.com/team/aim-base:1.2.0", "modelSources": source},
            "ml",
        ),
    ]
    catalog = write(tmp_path, docs)
    code, out, err = run(
        ["explain", "model", "ft-any", "-n", "ml", "-f", catalog, "--gpu", "MI300X=8", "--offline"], capsys
    )
    assert code == 0, err
    expected = [
        "deployment image registry.example.com/team/aim-base:1.2: baseImageRef "
        "docker.io/amdenterpriseai/aim-base:1.2 of AIMClusterModel rebased, rebased onto "
        "registry.example.com/team/llm:1.2.0",
        "deployment image registry.example.com/team/aim-base:1.3: AIMClusterModel legacy has no baseImageRef",
        "deployment image registry.example.com/team/aim-base:1.4: AIMClusterModel uninspected has no "
        "baseImageRef",
        "deployment image (unresolved): AIMClusterModel nightly has no baseImageRef and its tag 'nightly' "
        "is not a version",
    ]
    for line in expected:
        assert line in out
    code, out, _ = run(
        ["explain", "model", "ft-pinned", "-n", "ml", "-f", catalog, "--gpu", "MI300X=8", "--offline"], capsys
    )
    pinned = "registry.example.com/team/aim-base:1.2.0"
    assert f"deployment image {pinned}: spec.image {pinned} (versionPolicy pinned)" in out
    assert "version: version 1.3.4" in out  # the pinned version filter, said per template


def test_explain_model_awaiting_inspection_is_unresolved(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = [{"modelId": "org/llm-ft", "sourceUri": "s3://bucket/llm-ft/"}]
    docs = [
        base_model("remote", "registry.example.com/team/llm:2.0.0", None),
        obj(
            "AIMClusterServiceTemplate",
            "remote-t",
            {"modelName": "remote", "aimId": "org/llm", "modelId": "org/llm-ft", "type": "optimized"},
        ),
        obj(
            "AIMModel",
            "ft",
            {"aimId": "org/llm", "custom": {"versionPolicy": "latest"}, "modelSources": source},
            "ml",
        ),
    ]
    code, out, _ = run(
        ["explain", "model", "ft", "-n", "ml", "-f", write(tmp_path, docs), "--offline"], capsys
    )
    assert code == 0
    assert "deployment image (unresolved): its model AIMClusterModel remote has not been inspected yet" in out


def test_pull_secrets_in_the_input_are_read_as_the_operator_reads_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import base64

    config = {"auths": {"registry.example.com": {"auth": base64.b64encode(b"user:pass").decode()}}}
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "regcred", "namespace": "ml"},
        "type": "kubernetes.io/dockerconfigjson",
        "data": {".dockerconfigjson": base64.b64encode(json.dumps(config).encode()).decode()},
    }
    model = obj(
        "AIMModel",
        "private",
        {"image": "registry.example.com/team/qwen:1.0", "imagePullSecrets": [{"name": "regcred"}]},
        "ml",
    )
    other = obj(
        "AIMModel",
        "unsecured",
        {"image": "registry.example.com/team/qwen:1.0", "imagePullSecrets": [{"name": "nope"}]},
        "ml",
    )

    def reasons(docs: list[dict[str, Any]]) -> dict[str, str]:
        _, out, _ = run(["render", "-f", write(tmp_path, docs), "--offline", "-o", "yaml"], capsys)
        found = {}
        for o in yaml.safe_load_all(out):
            if o["kind"] == "AIMModel":
                found[o["metadata"]["name"]] = next(
                    c for c in o["status"]["conditions"] if c["type"] == "Ready"
                )["reason"]
        return found

    # The secret is found and parsed (then offline stops at the registry); a missing one is named.
    assert reasons([secret, model, other]) == {
        "private": "MetadataUnavailable",
        "unsecured": "PullSecretNotFound",
    }
    _, out, _ = run(["render", "-f", write(tmp_path, [secret, model]), "--offline", "-o", "yaml"], capsys)
    assert "Secret" not in {o["kind"] for o in yaml.safe_load_all(out)} and "dXNlcjpwYXNz" not in out


def test_template_status_holds_no_model_sources(capsys: pytest.CaptureFixture[str]) -> None:
    """A source's env may hold a literal credential, and anyone who may read cluster templates
    reads their status: sources stay in the spec (the examples' custom model has a token ref)."""
    _, out, _ = run(["render", "-f", str(EXAMPLES), "--offline", "-o", "yaml"], capsys)
    templates = [o for o in yaml.safe_load_all(out) if o["kind"].endswith("ServiceTemplate")]
    with_sources = [t for t in templates if t["spec"].get("modelSources")]
    assert with_sources, "the examples have templates with model sources"
    assert all("modelSources" not in t.get("status", {}) for t in templates)
    assert all("hf-token" not in json.dumps(t.get("status", {})) for t in templates)
