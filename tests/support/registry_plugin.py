"""Placeholder: the OCI registry fixtures (issue 4/5)."""
