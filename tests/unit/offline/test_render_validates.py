"""`aim-engine render` refuses what the API server refuses: every case of
tests/data/invalid_objects.yaml (which tests/integration/test_api_on_apiserver.py sends to the
real API server) fails render with the same field path or rule message, and every example of
the design document (tests/data/seed_examples.yaml, which the API server stores as written)
renders. CEL rules are evaluated with the `render` dependency group's CEL library."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import pytest
import yaml

from aim_engine.cli import main
from aim_engine.offline.render import render
from aim_engine.offline.validation import cel_available, cel_errors

DATA = Path(__file__).resolve().parents[2] / "data"
CASES: list[dict[str, Any]] = yaml.safe_load((DATA / "invalid_objects.yaml").read_text())


@pytest.mark.parametrize("case", CASES, ids=[c["object"]["metadata"]["name"] for c in CASES])
def test_render_refuses_what_the_api_server_refuses(case: dict[str, Any]) -> None:
    assert cel_available(), "the render dependency group (common-expression-language) is not installed"
    logging.disable(logging.CRITICAL)  # the reconcilers of a catalog that never renders: silent
    try:
        with pytest.raises(ValueError, match="is invalid") as refused:
            asyncio.run(render([("case", case["object"])], offline=True))
    finally:
        logging.disable(logging.NOTSET)
    assert case["expect"] in str(refused.value)


def test_the_document_examples_render() -> None:
    docs = [d for d in yaml.safe_load_all((DATA / "seed_examples.yaml").read_text()) if d]
    assert all(cel_errors(d) == [] for d in docs)
    rendered = asyncio.run(render([("seed", d) for d in docs], offline=True))
    assert rendered.objects()


def test_the_message_is_the_api_servers(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    doc = {
        "apiVersion": "aim.eai.amd.com/v1alpha1",
        "kind": "AIMService",
        "metadata": {"name": "two-models", "namespace": "ml"},
        "spec": {"model": {"name": "a", "image": "b:1"}},
    }
    path = tmp_path / "service.yaml"
    path.write_text(yaml.safe_dump(doc))
    code = main(["render", "-f", str(path), "--offline"])
    err = capsys.readouterr().err
    assert code == 2
    assert (
        'AIMService two-models is invalid: spec.model: Invalid value: "object": spec.model needs exactly '
        "one of name, image or custom" in err
    )
    bad_id = {
        "apiVersion": "aim.eai.amd.com/v1alpha1",
        "kind": "AIMModel",
        "metadata": {"name": "bad-id", "namespace": "ml"},
        "spec": {
            "modelSources": [{"modelId": "no-org", "sourceUri": "hf://a/b"}],
            "custom": {"hardware": {"gpu": {"requests": 1}}},
        },
    }
    path.write_text(yaml.safe_dump(bad_id))
    assert main(["render", "-f", str(path), "--offline"]) == 2
    assert "AIMModel bad-id is invalid: spec.modelSources[0].modelId: " in capsys.readouterr().err
