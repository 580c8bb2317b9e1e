"""What the installed mlx-lm supports, read from its files without importing it.

Importing mlx_lm loads mlx (seconds, and MLX belongs on the worker thread);
a hand-kept copy of its tables goes stale with each release. So the model
types and download patterns come from the installed package's source.
"""

from __future__ import annotations

import ast
import functools
import importlib.util
from pathlib import Path

# mlx-lm's own download patterns (mlx_lm.utils.DEFAULT_ALLOW_PATTERNS), read
# from the installed mlx-lm; this copy of 0.32.2's list is only the fallback.
_FALLBACK_PATTERNS = [
    "*.json",
    "model*.safetensors",
    "*.py",
    "tokenizer.model",
    "*.tiktoken",
    "tiktoken.model",
    "*.txt",
    "*.jsonl",
    "*.jinja",
]


def model_patterns() -> list[str]:
    """What mlx_lm.load needs from a repo: the files a download fetches."""
    return list(mlx_lm_constant("DEFAULT_ALLOW_PATTERNS") or _FALLBACK_PATTERNS)


def mlx_lm_models_dir() -> Path | None:
    # find_spec on the top-level package locates it without running its
    # __init__ (which imports mlx): safe and instant on any thread.
    try:
        spec = importlib.util.find_spec("mlx_lm")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0]) / "models"


@functools.cache
def mlx_lm_constant(name: str, default=None):
    """A literal constant of the installed ``mlx_lm/utils.py`` (e.g. its
    ``MODEL_REMAPPING``), read with ``ast`` rather than imported: importing
    mlx_lm loads mlx, and a hand-kept copy goes stale with each release."""
    models = mlx_lm_models_dir()
    if models is None:
        return default
    try:
        tree = ast.parse((models.parent / "utils.py").read_text(encoding="utf-8"))
    except (OSError, SyntaxError, ValueError):
        return default
    for node in tree.body:
        if (
            isinstance(node, ast.Assign)
            and len(node.targets) == 1
            and isinstance(node.targets[0], ast.Name)
            and node.targets[0].id == name
        ):
            try:
                return ast.literal_eval(node.value)
            except ValueError:
                return default
    return default


def mlx_lm_supports(model_type: str | None) -> bool:
    """mlx-lm has one module per architecture in mlx_lm/models/<model_type>.py,
    some model types mapped onto another's (``MODEL_REMAPPING``)."""
    if not model_type or model_type == "?":
        return False
    models = mlx_lm_models_dir()
    if models is None:
        return False
    name = (mlx_lm_constant("MODEL_REMAPPING") or {}).get(model_type, model_type)
    return (models / f"{name}.py").is_file() or (models / name / "__init__.py").is_file()
