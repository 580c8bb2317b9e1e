"""Hugging Face hub datasets, loaded the way the recipe does (``datasets``),
with byte progress, cancel, and failures that say what to do.

``datasets.load_dataset`` is three steps: ``load_dataset_builder`` (read the
repo: README ``configs:``, data files per split), ``download_and_prepare``
(download the data files through huggingface_hub, convert them to Arrow) and
``as_dataset``. They are run here one by one so that, between the first two,
the data files the builder names are fetched with huggingface_hub's
``snapshot_download`` (``core.models.hub.fetch_files``: the model downloads' byte
progress, cancel and resume) into the very cache ``datasets`` reads them
from. ``download_and_prepare`` then finds them there and reads the rows as
``load_dataset`` would; nothing here parses a data file itself.

Network I/O, not MLX: this runs on the engine's download queue. ``datasets``
and huggingface_hub read the endpoint and cache folders once, at import;
``_point_libraries_at`` sets them for each call, which is how the endpoint
chosen on the Environment screen (or ``--endpoint``) takes effect without a
restart. Every call that reads them runs on that one queue.
"""

from __future__ import annotations

import errno
import os
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from core.data.rows import Source, columns_of
from core.models.hub import (
    _chain,
    _quiet,
    check_repo_id,
    explain,
    fetch_files,
    friendly,
    hub_cache,
    resolve_endpoint,
    run_cancellable,
    unreachable,
)
from core.runtime import events as ev
from core.runtime.errors import Cancelled, TuneDeckError

# Imported where used, not at module level (import cost, 2 cores): datasets ~1.8 s, huggingface_hub ~0.5 s

# Streaming reads only the rows asked for. It is used when a sample is asked
# for and the split's data files are bigger than this, in formats datasets
# reads row group by row group (a JSON list, like sql_create_context_v4.json,
# is read whole either way, so it is downloaded once into the cache instead).
STREAM_ABOVE = 256 * 2**20
STREAMABLE = (".parquet", ".jsonl", ".ndjson", ".csv", ".tsv", ".arrow")
STREAM_SHUFFLE_BUFFER = 10_000  # datasets' shuffle buffer: the sample is drawn from this many rows at a time
ROW_TICK = 500  # streamed rows between progress reports / cancel checks

# The fixes that name a flag or a key, in the words of the interface in use.
WORDS = {
    "cli": {"config": "choose one with --config NAME", "split": "choose one with --hf-split NAME"},
    "tui": {
        "config": "choose one in the config list under the id (↓ from the id, Enter), or type it",
        "split": "choose one in the split list under the id (Enter loads it), or type it",
    },
}


@dataclass
class Choices:
    """What the hub reports for a dataset id: its configs and one config's splits."""

    repo_id: str
    configs: list[str]
    config: str | None  # the config whose splits are listed (the default, or the one asked for)
    splits: list[str] = field(default_factory=list)
    rows: dict[str, int] = field(default_factory=dict)  # split: rows, where the dataset card says


def datasets_cache() -> Path:
    """Where ``datasets`` keeps prepared (Arrow) datasets, resolved now."""
    if os.environ.get("HF_DATASETS_CACHE"):
        return Path(os.environ["HF_DATASETS_CACHE"]).expanduser()
    hf_home = (
        os.environ.get("HF_HOME") or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "huggingface"
    )
    return Path(hf_home).expanduser() / "datasets"


def _point_libraries_at(endpoint: str) -> None:
    """Set the endpoint and caches that ``datasets`` and huggingface_hub read at
    import (left set: the engine's download queue is the only caller)."""
    import datasets
    import datasets.config as dconfig
    import huggingface_hub.constants as hconst

    dconfig.HF_ENDPOINT = endpoint
    dconfig.HUB_DATASETS_URL = endpoint + "/datasets/{repo_id}/resolve/{revision}/{path}"
    # datasets builds some file URLs with huggingface_hub's template and only
    # treats them as hub files when they start with its own HF_ENDPOINT.
    hconst.ENDPOINT = endpoint
    hconst.HUGGINGFACE_CO_URL_TEMPLATE = endpoint + "/{repo_id}/resolve/{revision}/{filename}"
    hconst.HF_HUB_CACHE = str(hub_cache())  # where datasets' own hf_hub_download looks
    # Their progress bars and warnings go to stderr, which would draw over the
    # TUI; DownloadProgress events and the messages here say what happens.
    datasets.disable_progress_bars()
    datasets.utils.logging.set_verbosity_error()
    _quiet()


def _first_lines(exc: BaseException, lines: int = 4) -> str:
    text = " ".join(line.strip() for line in str(exc).strip().splitlines()[:lines] if line.strip())
    return (text[:400] + "…" if len(text) > 400 else text) or type(exc).__name__


def _script_name(repo_id: str, files: list[str]) -> str | None:
    """The loading script datasets would look for (``name/name.py``), if the repo has one."""
    script = repo_id.rsplit("/", 1)[-1] + ".py"
    return script if script in files else None


def _refuse_script(repo_id: str, script: str) -> TuneDeckError:
    return TuneDeckError(
        f"{repo_id} is a dataset script ({script}): loading it means running code from the hub "
        "(trust_remote_code), which TuneDeck never does (and datasets 4 and later cannot)",
        "pick a copy of the dataset stored as data files (Parquet, JSON, CSV): many script datasets have one "
        "under another id; or download its data yourself and give the file as the source",
    )


def _dataset_info(repo_id: str, endpoint: str, token, cancel, ui: str):
    from huggingface_hub import HfApi

    with friendly(repo_id, endpoint, f"read {repo_id}", repo_type="dataset", ui=ui):
        return run_cancellable(
            lambda: HfApi(endpoint=endpoint, token=token).dataset_info(repo_id, files_metadata=True), cancel
        )


def _builder(repo_id: str, config: str | None, sha: str, endpoint: str, token, cancel, ui: str):
    """``datasets.load_dataset_builder`` at the commit just read, with a missing
    or unknown config named and the configs listed."""
    import datasets

    try:
        return run_cancellable(
            lambda: datasets.load_dataset_builder(
                repo_id, config, revision=sha, cache_dir=str(datasets_cache()), token=token
            ),
            cancel,
        )
    except ValueError as exc:
        configs = _config_names(repo_id, sha, token)
        if configs and (config is None or config not in configs):
            listed = ", ".join(configs[:20]) + (f" and {len(configs) - 20} more" if len(configs) > 20 else "")
            what = (
                f"{repo_id} has {len(configs)} configs and none is the default"
                if config is None
                else f"{repo_id} has no config {config!r}"
            )
            raise TuneDeckError(f"{what}: {listed}", WORDS[ui]["config"] + f", e.g. {configs[0]}") from exc
        raise _not_readable(repo_id, exc) from exc
    except (Cancelled, TuneDeckError):
        raise
    except Exception as exc:
        raise _datasets_failure(repo_id, exc, endpoint, ui) from exc


def _config_names(repo_id: str, sha: str, token) -> list[str]:
    import datasets

    try:
        return list(datasets.get_dataset_config_names(repo_id, revision=sha, token=token))
    except Exception:  # only to list them in a message: the original failure is reported either way
        return []


def _not_readable(repo_id: str, exc: BaseException) -> TuneDeckError:
    return TuneDeckError(
        f"datasets cannot read {repo_id}: {_first_lines(exc)}",
        "check the dataset card's configs, or pick another dataset or a local file",
    )


def _datasets_failure(repo_id: str, exc: BaseException, endpoint: str, ui: str) -> TuneDeckError:
    """What ``datasets`` raised, with its reason kept whole."""
    from datasets.data_files import EmptyDatasetError
    from datasets.exceptions import DataFilesNotFoundError

    for e in _chain(exc):
        if isinstance(e, OSError) and (e.errno == errno.ENOSPC or "Not enough disk space" in str(e)):
            return TuneDeckError(
                f"the disk is full while datasets prepares {repo_id} in {datasets_cache()}",
                "free disk space, or set HF_DATASETS_CACHE to a folder on a larger disk; the downloaded files are kept",
            )
    if isinstance(exc, (DataFilesNotFoundError, EmptyDatasetError)):
        return TuneDeckError(
            f"{repo_id} holds no data files datasets can read ({_first_lines(exc)})",
            "pick a dataset with Parquet, JSON or CSV files",
        )
    if "scripts are no longer supported" in str(exc) or "trust_remote_code" in str(exc):
        return _refuse_script(repo_id, f"{repo_id.rsplit('/', 1)[-1]}.py")
    hub = explain(exc, repo_id, endpoint, f"read {repo_id}", repo_type="dataset", ui=ui)
    if not hub.message.startswith("could not "):  # explain recognised a hub failure
        return hub
    return _not_readable(repo_id, exc)


def _split_names(builder) -> list[str]:
    files = builder.config.data_files or {}
    if files:
        return list(files)
    return list(builder.info.splits or {})


def _pick_split(repo_id: str, builder, split: str | None, ui: str) -> str:
    splits = _split_names(builder)
    if split is None:
        if "train" in splits or not splits:
            return "train"
        if len(splits) == 1:
            return splits[0]
        raise TuneDeckError(
            f"{repo_id} (config {builder.config.name}) has no train split; it has: {', '.join(splits)}",
            WORDS[ui]["split"] + f", e.g. {splits[0]}",
        )
    base = re.match(r"[^\[+]*", split).group(0)  # "train[:10%]" and "train+test" name train
    if splits and base not in splits:
        raise TuneDeckError(
            f"{repo_id} (config {builder.config.name}) has no split {split!r}; it has: {', '.join(splits)}",
            WORDS[ui]["split"] + f", e.g. {splits[0]}",
        )
    return split


def _hub_files(builder, repo_id: str, sha: str, splits=None) -> list[str]:
    """The data files (paths in the repo) the builder reads, for ``splits`` (default: all)."""
    prefix = f"hf://datasets/{repo_id}@{sha}/"
    names: list[str] = []
    for name, urls in (builder.config.data_files or {}).items():
        if splits is None or name in splits:
            names += [str(u)[len(prefix) :] for u in urls if str(u).startswith(prefix)]
    return list(dict.fromkeys(names))


def should_stream(sample: int | None, files: list[str], sizes: dict[str, int | None], stream: bool | None) -> bool:
    """Stream only a sample, and only where datasets reads the files row group by
    row group: asked for (``stream``), or automatically above ``STREAM_ABOVE``."""
    if not sample or stream is False or not files:
        return False
    if stream:
        return True
    streamable = all(name.lower().endswith(STREAMABLE) for name in files)
    return streamable and sum(sizes.get(n) or 0 for n in files) > STREAM_ABOVE


def load(
    spec: str,
    config: str | None = None,
    split: str | None = None,
    *,
    endpoint: str | None = None,
    token: str | None = None,
    ui: str = "cli",
    sample: int | None = None,
    seed: int = 0,
    stream: bool | None = None,
    progress: Callable | None = None,
    emit: Callable[[ev.Event], None] | None = None,
    cancel: threading.Event | None = None,
):
    """Open hub dataset ``spec`` as a ``core.data.rows.Source``.

    ``sample``: how many rows the build will take (lets a big split stream);
    ``progress(message)``: steps; ``emit``: DownloadProgress events;
    ``cancel``: stops within ~0.1 s while talking to the hub.
    """
    progress = progress or (lambda *a, **k: None)
    repo_id = check_repo_id(spec, "dataset")
    endpoint = endpoint or resolve_endpoint()[0]
    _point_libraries_at(endpoint)
    progress(f"asking {endpoint} about {repo_id}")
    try:
        info = _dataset_info(repo_id, endpoint, token, cancel, ui)
    except TuneDeckError as exc:
        if not unreachable(exc):
            raise
        return _cached_copy(repo_id, config, split, exc, endpoint, progress)
    sizes = {s.rfilename: s.size for s in info.siblings or []}
    sha = info.sha or "main"
    script = _script_name(repo_id, list(sizes))
    if script:
        raise _refuse_script(repo_id, script)
    builder = _builder(repo_id, config, sha, endpoint, token, cancel, ui)
    used_split = _pick_split(repo_id, builder, split, ui)
    base_split = re.match(r"[^\[+]*", used_split).group(0)
    details = {"config": builder.config.name, "split": used_split, "revision": sha}
    if should_stream(sample, _hub_files(builder, repo_id, sha, [base_split]), sizes, stream):
        rows = _stream_rows(builder, repo_id, used_split, sample, seed, progress, cancel, endpoint, ui)
        return Source(repo_id, "hub", columns_of(rows), rows, details=details | {"streamed": True})

    # download_and_prepare converts every split of the config, so it needs all their files.
    files = _hub_files(builder, repo_id, sha)
    with friendly(repo_id, endpoint, repo_type="dataset", ui=ui):
        if files:
            progress(f"downloading {repo_id} from {endpoint}")
            fetch_files(
                repo_id,
                {n: sizes.get(n) for n in files},
                repo_type="dataset",
                commit=sha,
                revision=sha,
                endpoint=endpoint,
                cache=hub_cache(),
                token=token,
                on_progress=emit,
                cancel=cancel,
            )
    if cancel is not None and cancel.is_set():
        raise Cancelled()
    progress(f"preparing {repo_id} (datasets converts it to Arrow in {datasets_cache()})")
    ds = _prepare(builder, repo_id, used_split, token, endpoint, ui)  # not cancellable: seconds, local
    if cancel is not None and cancel.is_set():  # asked meanwhile: the prepared copy stays in the cache
        raise Cancelled()
    return Source(repo_id, "hub", list(ds.column_names), ds, details=details | {"streamed": False})


def _cached_copy(repo_id: str, config: str | None, split: str | None, failure: TuneDeckError, endpoint: str, progress):
    """The copy ``datasets`` prepared on an earlier load, when the hub cannot be
    reached (what ``load_dataset`` itself does offline); else the failure."""
    import datasets
    import datasets.config as dconfig
    import huggingface_hub.constants as hconst

    saved = dconfig.HF_HUB_OFFLINE, hconst.HF_HUB_OFFLINE
    dconfig.HF_HUB_OFFLINE = hconst.HF_HUB_OFFLINE = True  # the cache only, at once: no retries
    try:
        ds = datasets.load_dataset(repo_id, config, split=split or "train", cache_dir=str(datasets_cache()))
    except Exception:
        raise failure from None  # nothing cached: the reason is the network
    finally:
        dconfig.HF_HUB_OFFLINE, hconst.HF_HUB_OFFLINE = saved
    progress(f"{endpoint} cannot be reached: using the copy of {repo_id} prepared earlier in {datasets_cache()}")
    return Source(
        repo_id,
        "hub",
        list(ds.column_names),
        ds,
        details={
            "config": ds.info.config_name or config,
            "split": split or "train",
            "streamed": False,
            "offline": True,
        },
    )


def _prepare(builder, repo_id: str, split: str, token, endpoint: str, ui: str):
    from datasets import DownloadConfig

    try:
        builder.download_and_prepare(
            download_config=DownloadConfig(cache_dir=str(datasets_cache() / "downloads"), token=token)
        )
        ds = builder.as_dataset(split=split)
    except Exception as exc:
        raise _datasets_failure(repo_id, exc, endpoint, ui) from exc
    if len(ds) == 0:
        raise TuneDeckError(f"split {split} of {repo_id} has no rows", "pick another split")
    return ds


def _stream_rows(
    builder, repo_id: str, split: str, sample: int, seed: int, progress, cancel, endpoint: str, ui: str
) -> list[dict]:
    """The first rows of the split, shuffled in datasets' buffer: a few more than
    the build takes, so rows it skips as unusable can be replaced."""
    want = sample + max(10, sample // 10)
    rows: list[dict] = []
    try:
        stream = builder.as_streaming_dataset(split=split).shuffle(seed=seed, buffer_size=STREAM_SHUFFLE_BUFFER)
        progress(f"streaming {want:,} rows of {repo_id} (not downloading the whole split)", 0, want)
        for row in stream:
            rows.append(dict(row))
            if len(rows) % ROW_TICK == 0:
                if cancel is not None and cancel.is_set():
                    raise Cancelled()
                progress(f"streaming rows of {repo_id}", len(rows), want)
            if len(rows) >= want:
                break
    except (Cancelled, TuneDeckError):
        raise
    except Exception as exc:
        raise _datasets_failure(repo_id, exc, endpoint, ui) from exc
    if not rows:
        raise TuneDeckError(f"split {split} of {repo_id} has no rows", "pick another split")
    return rows


def search_datasets(text: str, *, endpoint: str | None = None, limit: int = 10, token: str | None = None) -> list[str]:
    """Hub dataset ids matching ``text``, most downloaded first (to complete a typed id).
    Only huggingface_hub, with the endpoint passed: safe on any thread."""
    from huggingface_hub import HfApi

    _quiet()
    endpoint = endpoint or resolve_endpoint()[0]
    with friendly(text, endpoint, f"search for {text.strip()!r}", repo_type="dataset"):
        found = HfApi(endpoint=endpoint, token=token).list_datasets(search=text.strip(), sort="downloads", limit=limit)
        return [d.id for d in found]


def choices(
    spec: str,
    config: str | None = None,
    *,
    endpoint: str | None = None,
    token: str | None = None,
    ui: str = "tui",
    cancel: threading.Event | None = None,
) -> Choices:
    """The configs of hub dataset ``spec`` and the splits of one of them (the
    one asked for, else the default or only one), as ``datasets`` sees them."""
    import datasets

    repo_id = check_repo_id(spec, "dataset")
    endpoint = endpoint or resolve_endpoint()[0]
    _point_libraries_at(endpoint)
    info = _dataset_info(repo_id, endpoint, token, cancel, ui)
    sha = info.sha or "main"
    script = _script_name(repo_id, [s.rfilename for s in info.siblings or []])
    if script:
        raise _refuse_script(repo_id, script)

    def ask():
        configs = list(datasets.get_dataset_config_names(repo_id, revision=sha, token=token))
        chosen = config if config in configs else None
        if chosen is None and len(configs) == 1:
            chosen = configs[0]
        elif chosen is None:
            chosen = datasets.get_dataset_default_config_name(repo_id, revision=sha, token=token)
        found = Choices(repo_id, configs, chosen)
        if chosen is not None:
            splits = datasets.get_dataset_config_info(repo_id, chosen, revision=sha, token=token).splits or {}
            found.splits = list(splits)
            for name, split_info in splits.items():  # a SplitInfo from the card, else a plain dict
                rows = (
                    split_info.get("num_examples")
                    if isinstance(split_info, dict)
                    else getattr(split_info, "num_examples", None)
                )
                if rows:
                    found.rows[name] = int(rows)
        return found

    try:
        return run_cancellable(ask, cancel)
    except (Cancelled, TuneDeckError):
        raise
    except Exception as exc:
        raise _datasets_failure(repo_id, exc, endpoint, ui) from exc
