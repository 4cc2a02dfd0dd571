"""The group and version of every kind in this package: written once, here."""

from aim_engine.api.meta import GROUP

VERSION = "v1alpha2"
GROUP_VERSION = f"{GROUP}/{VERSION}"
