"""Placeholder: the Kubernetes control-plane fixtures (issue 4)."""
