"""meshtui: a terminal dashboard for babeld IPv6 meshes."""

__version__ = "0.1.0"
