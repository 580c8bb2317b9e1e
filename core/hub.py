"""Fetching models from the Hugging Face hub (or a mirror via HF_ENDPOINT).

Network I/O, not MLX: callers may run this on any thread.
"""

from __future__ import annotations

from pathlib import Path

from core.errors import TuneDeckError

RECIPE_MODEL = "Qwen/Qwen2.5-0.5B-Instruct"

# What mlx_lm.load needs from a repo (mirrors mlx_lm.utils' download patterns).
MODEL_PATTERNS = ["*.json", "model*.safetensors", "*.py", "tokenizer.model", "*.tiktoken",
                  "tiktoken.model", "*.txt", "*.jsonl", "*.jinja"]


def download_model(repo_id: str, **kwargs) -> Path:
    """Download (or resume) the files mlx-lm needs; returns the snapshot folder."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import (GatedRepoError, HfHubHTTPError, LocalEntryNotFoundError,
                                        RepositoryNotFoundError)

    try:
        return Path(snapshot_download(repo_id, allow_patterns=MODEL_PATTERNS, **kwargs))
    except GatedRepoError as exc:
        raise TuneDeckError(f"{repo_id} is gated: you must accept its terms and log in",
                            "open the model page on the hub, accept, then run `hf auth login`") from exc
    except RepositoryNotFoundError as exc:
        raise TuneDeckError(f"{repo_id} was not found on the hub (or it is private)",
                            "check the spelling; for a private model run `hf auth login`") from exc
    except LocalEntryNotFoundError as exc:
        raise TuneDeckError(f"cannot reach the Hugging Face hub to download {repo_id}",
                            "check the network, set HF_ENDPOINT to a mirror, or use the offline demo model") from exc
    except HfHubHTTPError as exc:
        raise TuneDeckError(f"the hub refused the download of {repo_id}: {exc}",
                            "try again later, or check HF_ENDPOINT and your token") from exc
    except OSError as exc:
        raise TuneDeckError(f"could not save {repo_id}: {exc}",
                            "free disk space or set HF_HOME to a larger disk") from exc
