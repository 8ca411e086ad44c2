"""Articles -> chunks -> index -> search -> cited answers."""
