"""Sub-commands of the meshtui CLI, one module each, each with register(subparsers)."""
