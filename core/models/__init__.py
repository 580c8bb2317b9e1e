"""Base models: the hub download, what a model folder is, the curated list, the demo model."""
