"""Test-suite wiring. The real parts (kube-apiserver + etcd + kube-controller-manager, and the
OCI registries) are started once per session by the plugins below, in the xdist controller
process, and handed to the workers."""

pytest_plugins = [
    "tests.support.registry_plugin",
    "tests.support.kube_plugin",
]
