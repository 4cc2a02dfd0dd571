"""Every YAML example of the design document parses into the typed models and round-trips."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from aim_engine.api import kind_class, parse_object
from aim_engine.api.v1alpha1 import AIMModelStatus

DATA = Path(__file__).parents[2] / "data"


def seed_examples() -> list[dict[str, Any]]:
    docs = yaml.safe_load_all((DATA / "seed_examples.yaml").read_text())
    return [d for d in docs if d and kind_class(d["apiVersion"], d["kind"]) is not None]


def _id(doc: dict[str, Any]) -> str:
    return f"{doc['kind']}/{doc['metadata']['name']}"


def test_examples_cover_every_document_example() -> None:
    # 22 examples in the document are AIM objects (2 more are Secrets).
    assert len(seed_examples()) == 20


@pytest.mark.parametrize("doc", seed_examples(), ids=_id)
def test_example_round_trips(doc: dict[str, Any]) -> None:
    obj = parse_object(doc)
    assert obj.dump() == doc


def test_status_example_parses() -> None:
    for doc in yaml.safe_load_all((DATA / "seed_status_examples.yaml").read_text()):
        status = AIMModelStatus.model_validate(doc)
        assert status.dump() == doc


def test_engine_args_keep_numbers_and_strings() -> None:
    doc = next(d for d in seed_examples() if d["metadata"]["name"] == "llama-custom-profile")
    obj = parse_object(doc)
    dumped = obj.dump()
    args = dumped["spec"]["customTemplates"][0]["customProfile"]["engineArgs"]
    assert args == {"dtype": "float16", "gpu-memory-utilization": 0.95}
    assert isinstance(args["gpu-memory-utilization"], float)


def test_unknown_field_is_rejected_with_its_name() -> None:
    doc = next(d for d in seed_examples() if d["metadata"]["name"] == "qwen-qwen3-32b")
    bad = {**doc, "spec": {**doc["spec"], "imagePullSecret": [{"name": "x"}]}}
    with pytest.raises(ValueError, match="imagePullSecret"):
        parse_object(bad)


def test_not_an_aim_kind() -> None:
    with pytest.raises(ValueError, match="not an AIM kind"):
        parse_object({"apiVersion": "v1", "kind": "ConfigMap"})
