"""Is this folder a model mlx-lm can load? Checked before any MLX work."""

from __future__ import annotations

from pathlib import Path

from core.errors import TuneDeckError

TOKENIZER_FILES = ("tokenizer.json", "tokenizer.model", "vocab.json", "tiktoken.model")


def check_model_folder(path: str | Path) -> Path:
    folder = Path(path)
    if folder.is_file():
        raise TuneDeckError(f"{folder} is a file, not a model folder",
                            "type the folder that holds config.json and *.safetensors")
    if not folder.is_dir():
        raise TuneDeckError(f"model folder not found: {folder}",
                            "pick a model on the Model screen, or run `tunedeck demo-model DIR`")
    if not (folder / "config.json").is_file():
        raise TuneDeckError(f"{folder} has no config.json, so it is not a model folder",
                            "point at the folder that holds config.json and *.safetensors")
    if not any(folder.glob("*.safetensors")):
        raise TuneDeckError(f"{folder} has no *.safetensors weights",
                            "download the model again, or convert it with mlx_lm.convert")
    if not any((folder / name).is_file() for name in TOKENIZER_FILES):
        raise TuneDeckError(f"{folder} has no tokenizer (none of {', '.join(TOKENIZER_FILES)})",
                            "copy the tokenizer files from the original model into this folder")
    return folder
