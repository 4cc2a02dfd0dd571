"""The command line: sub-commands are wired, settings are built from flags, failures are one line."""

from __future__ import annotations

import logging

import pytest

from aim_engine.cli import build_parser, main
from aim_engine.cli.registry_options import registry_settings
from aim_engine.cli.run import _controller_settings, log_registry_trust
from aim_engine.registry.settings import RegistrySettings


def test_every_subcommand_is_registered() -> None:
    """Every sub-command is wired; the four that may contact a registry take the same registry
    options, whose defaults are RegistrySettings' own."""
    parser = build_parser()
    operands = {"inspect": ["x"], "render": ["-f", "x"], "explain": ["service", "x"]}
    flags = [
        "--insecure-registry",
        "Mirror.local:5000",
        "--ca-bundle",
        "ca.pem",
        "--platform",
        "linux/arm64/v8",
    ]
    for command in ("crds", "render", "explain", "inspect", "run"):
        args = parser.parse_args([command, *operands.get(command, [])])
        assert callable(args.func)
        if command == "crds":
            continue
        assert registry_settings(args) == RegistrySettings()
        given = registry_settings(parser.parse_args([command, *operands.get(command, []), *flags]))
        assert (given.insecure_registries, given.ca_bundle, str(given.platform)) == (
            ("mirror.local:5000",),
            "ca.pem",
            "linux/arm64/v8",
        )


def test_run_builds_controller_settings_from_flags() -> None:
    args = build_parser().parse_args(
        [
            "run",
            "--namespace",
            "ops",
            "--insecure-registry",
            "mirror.local:5000",
            "--allowed-registry",
            "mirror.local:5000",
            "--platform",
            "linux/arm64",
        ]
    )
    settings = _controller_settings(args)
    assert settings.operator_namespace == "ops"
    assert settings.registry.insecure_registries == ("mirror.local:5000",)
    assert str(settings.registry.platform) == "linux/arm64"
    assert settings.allows("mirror.local:5000")
    assert not settings.allows("docker.io")


def test_allowed_registry_without_port_allows_every_port() -> None:
    from aim_engine.controllers import ControllerSettings

    settings = ControllerSettings(allowed_registries=("127.0.0.1",))
    assert settings.allows("127.0.0.1:5000")
    assert settings.allows("127.0.0.1")
    assert not settings.allows("127.0.0.2:5000")
    assert ControllerSettings().allows("anything.example")


def test_run_with_a_missing_kubeconfig_fails_in_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        ["run", "--kubeconfig", "/nonexistent/kubeconfig", "--no-leader-elect", "--metrics-address", "0"]
    )
    assert code == 2


def test_crds_prints_every_crd(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["crds"]) == 0
    out = capsys.readouterr().out
    assert out.count("kind: CustomResourceDefinition") == 9


def test_insecure_registries_are_named_at_start(caplog: pytest.LogCaptureFixture) -> None:
    """TLS verification is on by default; each --insecure-registry is a warning of its own."""
    parser = build_parser()
    insecure = _controller_settings(
        parser.parse_args(
            ["run", "--insecure-registry", "mirror.local:5000", "--insecure-registry", "b.local"]
        )
    )
    with caplog.at_level(logging.INFO, logger="aim_engine.run"):
        log_registry_trust(insecure)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert [r.getMessage().split()[1] for r in warnings] == ["mirror.local:5000", "b.local"]
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="aim_engine.run"):
        log_registry_trust(_controller_settings(parser.parse_args(["run"])))
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    (trust,) = [r for r in caplog.records if r.getMessage() == "registry trust"]
    assert trust.__dict__["insecureRegistries"] == []
    assert _controller_settings(parser.parse_args(["run"])).registry.insecure_registries == ()
