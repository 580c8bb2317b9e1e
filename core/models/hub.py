"""Fetching models from the Hugging Face hub (or a mirror such as hf-mirror.com).

Network I/O, not MLX: any thread may call these. huggingface_hub reads
``HF_ENDPOINT`` and ``HF_HUB_CACHE`` once, at import, so every call here
passes the endpoint and cache folder explicitly; that is how a switch of
endpoint on the Environment screen takes effect without a restart.
"""

from __future__ import annotations

import errno
import os
import re
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from core.models.mlx_lm_support import mlx_lm_supports, model_patterns
from core.models.model_folder import check_model_folder
from core.models.model_info import DTYPE_BYTES, format_size, hf_hub_cache, quant_bits
from core.runtime import app_config
from core.runtime import events as ev
from core.runtime.errors import Cancelled, TuneDeckError
from core.runtime.eta import eta_seconds

# Imported where used, not at module level (import cost, 2 cores): huggingface_hub ~0.5 s

DEFAULT_ENDPOINT = "https://huggingface.co"
KNOWN_ENDPOINTS = (DEFAULT_ENDPOINT, "https://hf-mirror.com")

REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")
CHUNK_BYTES = 256 * 1024  # read size for downloads: progress and cancel granularity
LOGIN_HINT = "log in with `hf auth login`, or set HF_TOKEN=<a read token from huggingface.co/settings/tokens>"


# -- endpoint ------------------------------------------------------------------------


def resolve_endpoint(config: dict | None = None) -> tuple[str, str]:
    """(endpoint, where it came from). The app's saved choice wins over
    HF_ENDPOINT because it is the user's latest, explicit decision."""
    cfg = app_config.load() if config is None else config
    if cfg.get("hf_endpoint"):
        return str(cfg["hf_endpoint"]).rstrip("/"), "app settings"
    if os.environ.get("HF_ENDPOINT"):
        return os.environ["HF_ENDPOINT"].rstrip("/"), "HF_ENDPOINT"
    return DEFAULT_ENDPOINT, "default"


def normalize_endpoint(text: str) -> str:
    url = text.strip().rstrip("/")
    if url and "://" not in url:
        url = "https://" + url
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc or " " in url:
        raise TuneDeckError(
            f"{text.strip()!r} is not an endpoint URL",
            "type a URL such as https://hf-mirror.com (empty = https://huggingface.co)",
        )
    return url


def _quiet() -> None:
    """huggingface_hub's retry warnings and progress bars go to stderr, which
    would draw over the TUI; progress events and the final message say what
    happened."""
    from huggingface_hub.utils import disable_progress_bars
    from huggingface_hub.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    disable_progress_bars()  # its own bars (datasets' card downloads); TuneDeck's tqdm_class still reports


def _endpoint(endpoint: str | None) -> str:
    """An endpoint given on a command line is checked like a typed one."""
    return normalize_endpoint(endpoint) if endpoint else resolve_endpoint()[0]


def save_endpoint(text: str | None) -> str:
    """Save the endpoint in the app config ('' or None: back to HF_ENDPOINT/default)."""
    url = normalize_endpoint(text) if text and text.strip() else None
    app_config.update(hf_endpoint=None if url == DEFAULT_ENDPOINT and not os.environ.get("HF_ENDPOINT") else url)
    return resolve_endpoint()[0]


def hub_cache() -> Path:
    return hf_hub_cache()


# -- errors ----------------------------------------------------------------------------


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        yield exc
        exc = exc.__cause__ or exc.__context__


def _is_network_error(exc: BaseException) -> bool:
    names = {cls.__name__ for cls in type(exc).__mro__}
    return bool(
        names
        & {
            "TransportError",
            "TimeoutException",
            "ConnectionError",
            "OfflineModeIsEnabled",
            "TimeoutError",
            "ConnectError",
        }
    )


# The fixes that name a key or a flag, in the words of the interface in use.
SWITCH_ENDPOINT = {
    "tui": "switch the endpoint (e on the Environment screen, e.g. https://hf-mirror.com)",
    "cli": "use a mirror with --endpoint https://hf-mirror.com (or set HF_ENDPOINT)",
}
FIND_MODEL = {"tui": "search the hub from the Model screen (/)", "cli": "tunedeck models search TEXT lists them"}


def repo_page(repo_id: str, endpoint: str, repo_type: str = "model") -> str:
    """Where a person asks for access, on the endpoint in use (a mirror has its own pages)."""
    return f"{endpoint}/datasets/{repo_id}" if repo_type == "dataset" else f"{endpoint}/{repo_id}"


def unreachable(exc: BaseException) -> bool:
    """Whether the hub could not be reached at all (no network, offline mode, a dead endpoint)."""
    return any(_is_network_error(e) or type(e).__name__ == "LocalEntryNotFoundError" for e in _chain(exc))


def explain(
    exc: BaseException,
    repo_id: str,
    endpoint: str,
    action: str | None = None,
    *,
    repo_type: str = "model",
    ui: str = "tui",
) -> TuneDeckError:
    """Turn what huggingface_hub raised into a message a person can act on.
    ``action``: what was being done, for the messages (default: download REPO_ID);
    ``repo_type``: model or dataset (its page and wording); ``ui``: tui or cli
    (which keys or flags the fixes name)."""
    action = action or f"download {repo_id}"
    from huggingface_hub.errors import GatedRepoError, HfHubHTTPError, RepositoryNotFoundError, RevisionNotFoundError

    page = repo_page(repo_id, endpoint, repo_type)
    find = (
        FIND_MODEL[ui]
        if repo_type == "model"
        else f"hub datasets are listed at {endpoint}/datasets, e.g. b-mc2/sql-create-context"
    )
    for e in _chain(exc):
        if isinstance(e, TuneDeckError):
            return e
        if isinstance(e, GatedRepoError):
            status = getattr(getattr(e, "response", None), "status_code", None)
            if status == 403:  # logged in, but this account was not granted access
                return TuneDeckError(
                    f"{repo_id} is gated and your account has no access to it yet (HTTP 403)",
                    f"open {page}, accept the terms / ask for access (some owners approve "
                    "requests by hand), then try again with the same login",
                )
            return TuneDeckError(
                f"{repo_id} is gated: ask for access on its {repo_type} page, then log in",
                f"open {page}, accept the terms; then {LOGIN_HINT}",
            )
        if isinstance(e, RevisionNotFoundError):
            return TuneDeckError(f"{repo_id} has no such revision", "leave the revision empty to use main")
        if isinstance(e, RepositoryNotFoundError):
            status = getattr(getattr(e, "response", None), "status_code", None)
            if status == 401:
                return TuneDeckError(
                    f"{endpoint} wants a login for {repo_id} (HTTP 401): it is private or gated, or does not exist",
                    f"check the name (owner/name); for a private or gated {repo_type} {LOGIN_HINT}",
                )
            return TuneDeckError(
                f"{repo_id} was not found on {endpoint} (HTTP {status or 404})",
                f"check the spelling (owner/name), or {find}; a private {repo_type} of "
                "another account looks the same: log in as its owner",
            )
        if isinstance(e, HfHubHTTPError):
            status = getattr(getattr(e, "response", None), "status_code", None)
            if status == 401:
                return TuneDeckError(
                    f"your Hugging Face token was rejected by {endpoint} (HTTP 401)",
                    f"the token is invalid or expired: {LOGIN_HINT}",
                )
            if status == 403:
                return TuneDeckError(
                    f"access to {repo_id} was refused (HTTP 403)",
                    f"accept the {repo_type}'s licence at {page} and use a token with read access: {LOGIN_HINT}",
                )
            if status == 429:
                return TuneDeckError(
                    f"{endpoint} is rate-limiting downloads (HTTP 429)",
                    "wait a few minutes and try again (it resumes), or log in for higher limits",
                )
            if status and status >= 500:
                return TuneDeckError(
                    f"{endpoint} had a server error (HTTP {status})",
                    f"try again later (it resumes), or {SWITCH_ENDPOINT[ui]}",
                )
            return TuneDeckError(
                f"the hub refused to {action}: {str(e).splitlines()[0]}", "check the endpoint and your token"
            )
        if isinstance(e, OSError) and e.errno == errno.ENOSPC:
            return TuneDeckError(
                f"the disk is full while saving {repo_id}",
                "free disk space (or set HF_HUB_CACHE to a larger disk), then download again: finished files are kept",
            )
    if unreachable(exc):
        if any(type(e).__name__ == "OfflineModeIsEnabled" for e in _chain(exc)):
            return TuneDeckError(
                f"cannot reach {endpoint} to {action} (HF_HUB_OFFLINE is set)",
                "unset HF_HUB_OFFLINE (it turns the hub off for every program); the offline "
                "demo model needs no network",
            )
        reason = next(
            str(e).splitlines()[0][:120]
            for e in _chain(exc)
            if _is_network_error(e) or type(e).__name__ == "LocalEntryNotFoundError"
        )
        return TuneDeckError(
            f"cannot reach {endpoint} to {action} ({reason})",
            f"check the network, or {SWITCH_ENDPOINT[ui]}; the offline demo model needs no network",
        )
    if isinstance(exc, OSError):
        return TuneDeckError(f"could not {action}: {exc}", "check the disk and HF_HUB_CACHE, then try again")
    return TuneDeckError(
        f"could not {action}: {type(exc).__name__}: {exc}", "try again (a download resumes: finished files are kept)"
    )


@contextmanager
def friendly(repo_id: str, endpoint: str, action: str | None = None, **how):
    """Hub failures inside become ``explain``'s messages (``how``: its repo_type, ui)."""
    try:
        yield
    except (Cancelled, TuneDeckError):
        raise
    except Exception as exc:
        raise explain(exc, repo_id, endpoint, action, **how) from exc


# -- progress --------------------------------------------------------------------------


class _Reporter:
    """Turns huggingface_hub's tqdm updates (from its download threads) into
    DownloadProgress events, and stops the download when asked to."""

    def __init__(
        self,
        repo_id: str,
        total: int,
        files_total: int,
        emit: Callable[[ev.Event], None] | None,
        cancel: threading.Event | None,
    ):
        self.repo_id, self.total, self.files_total = repo_id, total, files_total
        self.emit, self.cancel = emit, cancel
        self.byte_bars: list = []
        self.file_bars: list = []
        self.lock = threading.Lock()
        self.samples: list[tuple[float, float]] = [(time.monotonic(), 0.0)]
        self.last_emit = 0.0

    def check(self) -> None:
        if self.cancel is not None and self.cancel.is_set():
            raise Cancelled()

    def done_bytes(self) -> float:
        # Both the "transfer" and the "written" bar count the same bytes over
        # plain HTTP; the larger one is the truth for either kind of transfer.
        return max((bar.n for bar in self.byte_bars), default=0)

    def updated(self, force: bool = False) -> None:
        self.check()
        if self.emit is None:
            return
        now = time.monotonic()
        with self.lock:
            if not force and now - self.last_emit < 0.1:
                return
            self.last_emit = now
            done = self.done_bytes()
            self.samples.append((now, done))
            self.samples = [s for s in self.samples if now - s[0] <= 5.0] or self.samples[-1:]
            t0, b0 = self.samples[0]
            speed = (done - b0) / (now - t0) if now > t0 else 0.0
        files_done = max((bar.n for bar in self.file_bars), default=0)
        total = max(self.total, done)
        eta = eta_seconds(done - b0, total - b0, now - t0)

        self.emit(
            ev.DownloadProgress(
                message=f"{self.repo_id}: {format_size(done) if done else '0 B'} of {format_size(total)}",
                done=done,
                total=total,
                repo_id=self.repo_id,
                bytes_per_second=speed,
                eta_seconds=eta,
                files_done=int(files_done),
                files_total=self.files_total,
            )
        )


class _Silent:
    """Where TuneDeck's bars "print": nowhere (the events are the display)."""

    def write(self, _text: str) -> None:
        pass

    def flush(self) -> None:
        pass


def _bar_class(reporter: _Reporter) -> type:
    """A tqdm subclass for ``snapshot_download(tqdm_class=...)`` that prints
    nothing and reports each update through ``reporter`` (huggingface_hub
    gives a class that is not its own tqdm exactly the arguments tqdm takes)."""
    from tqdm import tqdm  # small, and already imported by huggingface_hub

    class DownloadBar(tqdm):
        monitor_interval = 0  # no tqdm monitor thread: nothing here is ever shown

        def __init__(self, *args, **kwargs):
            reporter.check()
            kwargs.update(file=_Silent(), disable=False)
            super().__init__(*args, **kwargs)
            (reporter.byte_bars if self.unit == "B" else reporter.file_bars).append(self)

        def __iter__(self):
            # tqdm's own loop counts in a local and updates ``n`` only when it
            # redraws; count each item, so the files figure is exact.
            for item in self.iterable or ():
                yield item
                self.update(1)

        def update(self, n: float | None = 1):
            shown = super().update(n)
            reporter.updated()
            return shown

    return DownloadBar


# -- download --------------------------------------------------------------------------


def free_bytes(folder: Path) -> int:
    """Free space on the disk that holds (or will hold) ``folder``."""
    probe = folder
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    return shutil.disk_usage(probe).free


def check_repo_id(repo_id: str, repo_type: str = "model") -> str:
    repo_id = repo_id.strip().strip("/")
    if not REPO_ID.match(repo_id):
        example = "b-mc2/sql-create-context" if repo_type == "dataset" else "Qwen/Qwen2.5-0.5B-Instruct"
        raise TuneDeckError(f"{repo_id!r} is not a {repo_type} name", f"use the hub's owner/name form, e.g. {example}")
    return repo_id


def run_cancellable(fn: Callable[[], object], cancel: threading.Event | None, poll: float = 0.1):
    """``fn()``, on a helper thread, so that a cancel returns within ``poll``
    seconds even while a read waits on a stalled connection (progress
    callbacks only run when bytes arrive). The helper is left to stop at its
    next progress update or time-out; huggingface_hub's per-file locks make a
    retry that starts meanwhile wait for it, then resume."""
    if cancel is None:
        return fn()
    outcome: dict = {}
    finished = threading.Event()

    def target() -> None:
        try:
            outcome["result"] = fn()
        except BaseException as exc:  # carried back to the caller
            outcome["error"] = exc
        finally:
            finished.set()

    threading.Thread(target=target, name="tunedeck-hub-call", daemon=True).start()
    while not finished.wait(poll):
        if cancel.is_set():
            raise Cancelled()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["result"]


def fetch_files(
    repo_id: str,
    sizes: dict[str, int | None],
    *,
    repo_type: str,
    commit: str,
    revision: str | None,
    endpoint: str,
    cache: Path,
    token: str | None,
    on_progress: Callable[[ev.Event], None] | None,
    cancel: threading.Event | None,
) -> Path:
    """Download exactly these files (name: size in bytes) of ``commit`` (asked
    for as ``revision``: a branch name keeps the cache's refs/ up to date) into
    the Hugging Face cache with ``snapshot_download``: byte progress as
    ``DownloadProgress`` events, cancel, resume. Models and datasets share it.

    Files already in the snapshot are not fetched again; a file is only linked
    into the snapshot once complete, so a cancel or failure registers nothing
    half-written (the partial blob stays beside it, for the Range resume).
    Returns the snapshot folder. Call inside ``friendly``.
    """
    import glob

    import huggingface_hub.constants as hf_constants
    from huggingface_hub import snapshot_download
    from huggingface_hub.file_download import repo_folder_name

    # huggingface_hub reads a file in 10 MiB chunks and reports (its download
    # threads' only chance to stop) once per chunk: on a 1 MB/s link that is a
    # frozen bar, and a CLI that exits 10 s after Ctrl-C (Python joins those
    # threads at exit). 256 KiB chunks cost nothing next to the network.
    hf_constants.DOWNLOAD_CHUNK_SIZE = min(hf_constants.DOWNLOAD_CHUNK_SIZE, CHUNK_BYTES)
    snapshot = cache / repo_folder_name(repo_id=repo_id, repo_type=repo_type) / "snapshots" / commit
    todo = [n for n in sizes if not (snapshot / n).is_file()]
    total = sum(sizes[n] or 0 for n in todo)
    free = free_bytes(cache)
    if total > free:
        raise TuneDeckError(
            f"not enough disk space for {repo_id}: it needs {format_size(total)}, "
            f"{format_size(free)} is free in {cache}",
            "free some space, or set HF_HUB_CACHE to a folder on a larger disk",
        )
    reporter = _Reporter(repo_id, total, len(sizes), on_progress, cancel)
    bar = _bar_class(reporter)
    # glob.escape: the names are exact paths, not patterns ("[" is legal in a file name).
    path = run_cancellable(
        lambda: snapshot_download(
            repo_id,
            repo_type=repo_type,
            revision=revision,
            cache_dir=str(cache),
            endpoint=endpoint,
            token=token,
            allow_patterns=[glob.escape(n) for n in sizes],
            tqdm_class=bar,
            max_workers=4,
        ),
        cancel,
    )
    reporter.updated(force=True)
    return Path(path)


def download_model(
    repo_id: str,
    *,
    endpoint: str | None = None,
    cache_dir: str | Path | None = None,
    revision: str | None = None,
    token: str | None = None,
    on_progress: Callable[[ev.Event], None] | None = None,
    cancel: threading.Event | None = None,
) -> Path:
    """Download (or finish downloading) the files mlx-lm needs; returns the
    snapshot folder, only once it is complete and loadable.

    Files already in the cache are not fetched again, so a second call after
    an interruption resumes; a connection dropped mid-file is resumed by
    huggingface_hub with an HTTP Range request.
    """
    from huggingface_hub import HfApi
    from huggingface_hub.utils import filter_repo_objects

    _quiet()
    repo_id = check_repo_id(repo_id)
    endpoint = _endpoint(endpoint)
    cache = Path(cache_dir) if cache_dir else hub_cache()
    if cancel is not None and cancel.is_set():
        raise Cancelled()
    with friendly(repo_id, endpoint):
        info = HfApi(endpoint=endpoint, token=token).model_info(repo_id, revision=revision, files_metadata=True)
        siblings = {s.rfilename: s for s in info.siblings or []}
        wanted = list(filter_repo_objects(list(siblings), allow_patterns=model_patterns()))
        if not any(name.endswith(".safetensors") for name in wanted):
            raise TuneDeckError(
                f"{repo_id} has no *.safetensors weights, so mlx-lm cannot load it",
                "pick a safetensors model (e.g. from mlx-community) or convert it with mlx_lm.convert",
            )
        model_type = (info.config or {}).get("model_type") if isinstance(info.config, dict) else None
        if model_type and not mlx_lm_supports(model_type):
            raise TuneDeckError(
                f"{repo_id} is a {model_type!r} model, which this mlx-lm cannot load",
                "pick another model, or upgrade mlx-lm",
            )
        path = fetch_files(
            repo_id,
            {n: siblings[n].size for n in wanted},
            repo_type="model",
            commit=info.sha or "",
            revision=revision,
            endpoint=endpoint,
            cache=cache,
            token=token,
            on_progress=on_progress,
            cancel=cancel,
        )
    check_model_folder(path)  # complete and loadable, or a clear message (nothing is selected)
    return path


# -- search and account ----------------------------------------------------------------


@dataclass
class HubModel:
    repo_id: str
    downloads: int = 0
    size_bytes: float | None = None
    parameters: int | None = None
    model_type: str = "?"
    bits: int | None = None
    supported: bool = False
    gated: bool = False


def _hub_model(m) -> HubModel:
    cfg = m.config if isinstance(getattr(m, "config", None), dict) else {}
    bits = quant_bits(cfg)
    size = params = None
    st = getattr(m, "safetensors", None)
    if st is not None and st.parameters:
        size = sum(DTYPE_BYTES.get(dtype, 2) * n for dtype, n in st.parameters.items())
        packed = st.parameters.get("U32", 0)
        params = (packed * 32 // bits + st.total - packed) if bits and packed else st.total
    model_type = str(cfg.get("model_type") or "?")
    return HubModel(
        repo_id=m.id,
        downloads=m.downloads or 0,
        size_bytes=size,
        parameters=params,
        model_type=model_type,
        bits=bits,
        gated=bool(getattr(m, "gated", False)),
        supported=mlx_lm_supports(model_type) and st is not None,
    )


def search_models(
    text: str, *, endpoint: str | None = None, limit: int = 20, token: str | None = None
) -> list[HubModel]:
    """Text-generation models matching ``text`` that mlx-lm can load
    (a known model_type and safetensors weights), most downloaded first."""
    from huggingface_hub import HfApi

    _quiet()
    endpoint = _endpoint(endpoint)
    with friendly(text, endpoint, f"search for {text.strip()!r}"):
        found = HfApi(endpoint=endpoint, token=token).list_models(
            search=text.strip(),
            pipeline_tag="text-generation",
            sort="downloads",
            limit=limit * 3,
            expand=["downloads", "config", "safetensors", "gated", "pipeline_tag"],
        )
        models = [_hub_model(m) for m in found]
    return [m for m in models if m.supported][:limit]


def whoami(*, endpoint: str | None = None, token: str | None = None) -> str:
    """The account name the token belongs to. Raises TuneDeckError; never shows the token."""
    from huggingface_hub import HfApi

    _quiet()
    endpoint = _endpoint(endpoint)
    with friendly("your account", endpoint, "check whose token this is"):
        info = HfApi(endpoint=endpoint, token=token).whoami()
    return str(info.get("name") or "?")
