"""A lab of real babeld daemons in network namespaces (root only)."""
