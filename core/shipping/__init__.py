"""Fuse an adapter into a model, its provenance, and exports (LM Studio, GGUF)."""
