"""aim-engine: the AIM model catalog operator and command-line tool."""

__version__ = "0.1.0"
