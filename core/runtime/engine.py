"""The engine facade: every long or MLX-touching operation, as a job.

One ``Engine`` per process owns the MLX worker thread and the chat models
loaded on it. Methods return a ``Job`` at once; progress arrives as events
through the listeners (``Engine(on_event=...)`` or ``add_listener``).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from core.runtime import events as ev
from core.runtime import paths
from core.runtime.worker import Job, JobContext, MLXWorker


def _check_device(ctx: JobContext):
    from core.runtime.doctor import check_mlx_device

    return check_mlx_device()


def _build_demo(ctx: JobContext, out_dir: str, size: str, overwrite: bool = False) -> str:
    from core.models import demo_model

    demo_model.build(out_dir, size, progress=ctx.progress, overwrite=overwrite)
    return out_dir


def _write_sample(ctx: JobContext, out_dir: str, seed: int, overwrite: bool = False) -> dict:
    from core.data import sample_data

    ctx.progress("generating the text-to-SQL sample")
    return sample_data.write_sample(out_dir, seed=seed, overwrite=overwrite)


def _train(ctx: JobContext, settings, run_dir=None, hosts=None):
    from core.training.trainer import run_training

    return run_training(ctx, settings, run_dir, hosts)


def _memory_check(ctx: JobContext, settings):
    from core.training.memory_probe import run_memory_check

    return run_memory_check(ctx, settings)


def _download(ctx: JobContext, repo_id: str, endpoint: str | None, cache_dir: str | None) -> str:
    from core.models.hub import download_model

    ctx.progress(f"asking the hub about {repo_id}")
    path = download_model(
        repo_id, endpoint=endpoint, cache_dir=cache_dir, on_progress=ctx.emit, cancel=ctx.cancel_event
    )
    return str(path)


# -- judge and ship job functions ----------------------------------
def _evaluate(ctx: JobContext, settings):
    from core.evaluation.judge import run_eval

    return run_eval(ctx, settings)


def _fuse(ctx: JobContext, model, adapter, out, dequantize, verify, data, overwrite=False):
    from core.shipping.fuse import run_fuse

    return run_fuse(ctx, model, adapter, out, dequantize=dequantize, verify=verify, data=data, overwrite=overwrite)


def _export_lmstudio(ctx: JobContext, fused, root, publisher, name, allow_stale=False, overwrite=False):
    from core.shipping.lmstudio import export_lmstudio

    return export_lmstudio(
        ctx, fused, root=root, publisher=publisher, name=name, allow_stale=allow_stale, overwrite=overwrite
    )


def _export_gguf(ctx: JobContext, fused, out, gguf_type, replace, allow_stale):
    from core.shipping.gguf import export_gguf

    return export_gguf(ctx, fused, out, gguf_type=gguf_type, replace=replace, allow_stale=allow_stale)


def _build_dataset(ctx: JobContext, spec, source, hub: dict) -> dict:
    from core.data.build import build

    return build(
        spec,
        progress=ctx.progress,
        check_cancelled=ctx.check_cancelled,
        source=source,
        hub=dict(hub, emit=ctx.emit, cancel=ctx.cancel_event),
    )


def _open_source(ctx: JobContext, spec, config, split, hub: dict):
    from core.data.sources import open_source

    ctx.progress(f"opening {spec}")
    return open_source(spec, config, split, ctx.progress, **hub, emit=ctx.emit, cancel=ctx.cancel_event)


def _hub_dataset_choices(ctx: JobContext, repo_id, config, endpoint):
    from core.data.hub_datasets import choices

    ctx.progress(f"asking the hub about {repo_id}")
    return choices(repo_id, config, endpoint=endpoint, cancel=ctx.cancel_event)


def _data_tokens(ctx: JobContext, folder, model, max_seq_length, mask_prompt, limit):
    from core.data.token_stats import token_report

    return token_report(
        folder, model, max_seq_length, mask_prompt, limit, progress=ctx.progress, check_cancelled=ctx.check_cancelled
    )


def _launch_and_follow(ctx: JobContext, unload: Callable[[], int], mode: str, *args):
    from core.training.follow import follow
    from core.training.launcher import launch_new, launch_resume

    if unload():  # on a Mac memory is shared: the run gets what the chat models held
        ctx.progress("unloaded the chat models: the run needs their memory")
    ctx.check_cancelled()  # stopped (or left) while it waited: no process is started
    launched = launch_new(*args) if mode == "new" else launch_resume(*args)
    ctx.state["run_dir"] = str(launched.run_dir)
    group = args[-1]
    ctx.progress(f"starting {group.describe()} through mlx.launch" if group is not None else "starting the run process")
    return follow(ctx, launched.run_dir, launched.offset, launched.process, launched.session)


def _preflight(ctx: JobContext, group, folders: list[str]):
    from core.training.group_doctor import preflight

    def step(message: str) -> None:
        ctx.check_cancelled()  # x stops it between one host's checks and the next
        ctx.progress(message)

    return preflight(group, folders, progress=step)


def _attach(ctx: JobContext, run_dir: str, offset: int | None):
    from core.training.follow import follow, session_offset

    ctx.state["run_dir"] = run_dir
    return follow(ctx, run_dir, session_offset(run_dir) if offset is None else offset)


class Engine:
    def __init__(self, on_event: Callable[[ev.Event], None] | None = None):
        self.worker = MLXWorker(on_event)
        self._chat_models: dict[tuple, object] = {}  # touched on the worker thread only
        self._downloads: MLXWorker | None = None  # the I/O queue, started on first use
        self._followers: list[tuple[MLXWorker, Job]] = []  # one thread per run followed

    @property
    def busy(self) -> bool:
        """An MLX job (training, chat, evaluation, fuse…) is queued or running;
        downloads and dataset builds run beside them and do not count."""
        return self.worker.busy

    def check_device(self) -> Job:
        """The MLX device check (``core.runtime.doctor.Check``), made on the MLX thread."""
        return self.worker.submit("device-check", _check_device)

    def add_listener(self, fn: Callable[[ev.Event], None]) -> None:
        self.worker.add_listener(fn)

    def remove_listener(self, fn: Callable[[ev.Event], None]) -> None:
        self.worker.remove_listener(fn)

    # -- set-up -----------------------------------------------------------
    # ``overwrite``: the user asked that an earlier TuneDeck output of the same
    # kind at the target be replaced (core.runtime.targets); anything else is refused.
    def build_demo_model(self, out_dir: str | Path | None = None, size: str = "tiny", overwrite: bool = False) -> Job:
        out = str(out_dir or paths.demo_model_dir())
        return self.worker.submit("demo-model", _build_demo, out, size, overwrite)

    def write_sample_data(self, out_dir: str | Path | None = None, seed: int = 0, overwrite: bool = False) -> Job:
        out = str(out_dir or paths.sample_data_dir())
        return self.worker.submit("sample-data", _write_sample, out, seed, overwrite)

    # -- training ----------------------------------------------------------
    def train(self, settings, run_dir: str | Path | None = None, hosts: list | None = None) -> Job:
        """Train here, on the MLX thread (what the run process does); under
        mlx.launch, this process's share (``hosts``: where each rank runs)."""
        # A new adapter makes any cached tuned model stale.
        return self.worker.submit("train", self._train_and_forget, settings, run_dir, hosts)

    def _train_and_forget(self, ctx: JobContext, settings, run_dir=None, hosts=None):
        self._chat_models = {k: v for k, v in self._chat_models.items() if k[1] is None}
        return _train(ctx, settings, run_dir, hosts)

    # -- runs in a process of their own -------------------------------------
    # What the TUI and the CLI start: the run trains in core.training.run_process,
    # detached from the terminal, and this process follows its folder on a
    # thread of its own (core.training.follow), emitting the trainer's events.
    # Cancelling the job asks the run to stop cleanly; ``detach_runs`` (and
    # ``shutdown``) only stop following, and the run trains on.
    def start_run(self, settings, run_dir: str | Path | None = None, group=None) -> Job:
        """A new run in its own process (checked here first: a mistake is
        said before anything is written); ``group``: a ``GroupSpec``, to
        train it in several processes through mlx.launch."""
        return self._follow("new", settings, run_dir, group)

    def resume_run(
        self, run_dir: str | Path, iters: int | None = None, adapter_path: str | None = None, group=None
    ) -> Job:
        return self._follow("resume", str(run_dir), iters, adapter_path, group)

    def preflight(self, group, folders: list[str]) -> Job:
        """The checks before a run on several Macs (``GroupSpec`` ``group``;
        ``folders``: the model and data every host needs), on the I/O queue:
        ssh and subprocesses, no MLX here. Result: a ``HostsReport``."""
        return self.downloads.submit("preflight", _preflight, group, [str(f) for f in folders if f])

    def attach_run(self, run_dir: str | Path, offset: int | None = None) -> Job:
        """Follow a run another process trains, from its current session's start (or ``offset``)."""
        return self._follower_job(_attach, str(run_dir), offset)

    def followed_runs(self) -> list[Job]:
        """The run-following jobs still going."""
        return [job for _, job in self._followers if not job.done]

    def detach_runs(self) -> None:
        """Stop following every run; they train on."""
        for _, job in self._followers:
            self.detach_run(job)

    def detach_run(self, job: Job) -> None:
        """Stop following one run (a job of ``start_run``/``resume_run``/``attach_run``); it trains on."""
        job.state["detach"] = True
        job.cancel_event.set()

    def _follow(self, mode: str, *args) -> Job:
        return self._follower_job(_launch_and_follow, self._unload_tuned, mode, *args)

    def _follower_job(self, fn, *args) -> Job:
        # A thread per run followed: several may be followed at once, and none waits behind MLX work.
        self._followers = [(w, j) for w, j in self._followers if not j.done]
        worker = self.worker.sibling("tunedeck-follow")
        job = worker.submit("train", fn, *args)
        self._followers.append((worker, job))
        return job

    def _unload_tuned(self) -> int:
        """Drop the cached chat models (on the MLX thread); how many were loaded."""

        def drop() -> int:
            n = len(self._chat_models)
            self._chat_models = {}
            if n:
                import gc

                import mlx.core as mx

                gc.collect()
                mx.clear_cache()
            return n

        return self.worker.call(drop) if self.worker.started else 0

    # -- run lifecycle: resume and memory check -----------------
    def resume(
        self,
        run_dir: str | Path,
        iters: int | None = None,
        adapter_path: str | None = None,
        peer_settings=None,
        hosts: list | None = None,
    ) -> Job:
        """Resume here, on the MLX thread; ``peer_settings``/``hosts``: see ``resume_training``."""
        return self.worker.submit("train", self._resume, str(run_dir), iters, adapter_path, peer_settings, hosts)

    def _resume(
        self, ctx: JobContext, run_dir: str, iters: int | None, adapter_path=None, peer_settings=None, hosts=None
    ):
        from core.training.trainer import resume_training

        self._chat_models = {k: v for k, v in self._chat_models.items() if k[1] is None}
        return resume_training(ctx, run_dir, iters, adapter_path, peer_settings, hosts)

    def memory_check(self, settings) -> Job:
        return self.worker.submit("memory-check", _memory_check, settings)

    # -- chat --------------------------------------------------------------
    def load_chat_model(self, model: str, adapter: str | None = None) -> Job:
        return self.worker.submit("load-model", self._load, model, adapter)

    def _load(self, ctx: JobContext, model: str, adapter: str | None):
        from core.chat.generation import load_chat_model

        key = (model, adapter)
        chat = self._chat_models.get(key)
        if chat is None:
            ctx.progress(f"loading {Path(model).name}" + (" + adapter" if adapter else ""))
            chat = load_chat_model(model, adapter)
            # Keep at most two (base and tuned, for compare mode).
            while len(self._chat_models) >= 2:
                self._chat_models.pop(next(iter(self._chat_models)))
            self._chat_models[key] = chat
        ctx.emit(ev.ModelLoaded(model=model, adapter=adapter, parameters=chat.parameters))
        return chat

    def generate(self, model: str, adapter: str | None, messages: list[dict], sampling=None) -> Job:
        return self.worker.submit("generate", self._generate, model, adapter, messages, sampling)

    def _generate(self, ctx: JobContext, model, adapter, messages, sampling):
        from core.chat.generation import Sampling, stream_reply

        chat = self._load(ctx, model, adapter)
        return stream_reply(ctx, chat, messages, sampling or Sampling())

    # -- model downloads and dataset builds -----------------------------------
    # Network and file I/O, not MLX: model downloads, opening a (hub) dataset
    # and building one get their own queue and thread, so that they never wait
    # behind a training run or hold up chat. Their events reach the
    # same listeners, and job ids come from the MLX worker's counter so a
    # screen tracking ids never confuses the two.
    @property
    def downloads(self) -> MLXWorker:
        if self._downloads is None:
            self._downloads = self.worker.sibling("tunedeck-download")
        return self._downloads

    def download_model(self, repo_id: str, endpoint: str | None = None, cache_dir: str | Path | None = None) -> Job:
        return self.downloads.submit("download", _download, repo_id, endpoint, str(cache_dir) if cache_dir else None)

    # -- datasets: build from any source, token statistics --------
    def build_dataset(self, spec, source=None, **hub) -> Job:
        """Build an mlx-lm folder from ``core.data.build.BuildSpec``; result: the manifest.

        ``source``: an already opened ``Source`` (saves a second hub download);
        ``hub``: options for a hub source (endpoint, token, ui: see ``core.data.hub_datasets.load``)."""
        return self.downloads.submit("build-data", _build_dataset, spec, source, hub)

    def open_data_source(self, spec: str, config: str | None = None, split: str | None = None, **hub) -> Job:
        """Open a source (file, folder, hub id, 'sample'); result: ``core.data.rows.Source``.
        A hub id reports DownloadProgress and stops on cancel (``core.data.hub_datasets``)."""
        return self.downloads.submit("open-data", _open_source, spec, config, split, hub)

    def hub_dataset_choices(self, repo_id: str, config: str | None = None, endpoint: str | None = None) -> Job:
        """A hub dataset's configs and one config's splits (``core.data.hub_datasets.Choices``)."""
        return self.downloads.submit("hub-choices", _hub_dataset_choices, repo_id, config, endpoint)

    def data_tokens(
        self, folder: str, model: str, max_seq_length: int = 2048, mask_prompt: bool = False, limit: int | None = None
    ) -> Job:
        """Token lengths and a masked preview (``core.data.token_stats.TokenReport``)."""
        return self.worker.submit("data-tokens", _data_tokens, folder, model, max_seq_length, mask_prompt, limit)

    def shutdown(self, timeout: float | None = 10.0, reason: str = "") -> None:
        """Stop what runs (``reason`` goes into a run's stop record) and wait
        up to ``timeout`` seconds (None: until a training run's clean stop is done)."""
        if self._downloads is not None:
            self._downloads.shutdown(timeout=5, reason=reason)
        self.detach_runs()  # a run process trains on: a viewer leaving never stops it
        self.worker.shutdown(timeout, reason=reason)

    # -- judge and ship: evaluate, fuse, export -------------------
    def evaluate(self, settings) -> Job:
        """Base vs tuned test loss/perplexity (+ task score): ``core.evaluation.judge.EvalSettings``."""
        return self.worker.submit("evaluate", _evaluate, settings)

    def fuse(
        self,
        model: str,
        adapter: str,
        out: str,
        dequantize: bool = False,
        verify: bool = True,
        data: str | None = None,
        overwrite: bool = False,
    ) -> Job:
        """Fuse into a standalone folder (atomic), then verify against base + adapter.
        ``overwrite`` replaces an earlier TuneDeck fused model there (nothing else)."""
        return self.worker.submit("fuse", _fuse, model, adapter, out, dequantize, verify, data, overwrite)

    def export_lmstudio(
        self,
        fused: str,
        root: str | None = None,
        publisher: str = "tunedeck",
        name: str | None = None,
        allow_stale: bool = False,
        overwrite: bool = False,
    ) -> Job:
        """Copy a fused model into LM Studio's folder; a stale one is refused
        unless ``allow_stale`` (``core.shipping.provenance.check_fused``); ``overwrite``
        replaces only an earlier TuneDeck export there."""
        return self.worker.submit("export", _export_lmstudio, fused, root, publisher, name, allow_stale, overwrite)

    def export_gguf(
        self, fused: str, out: str, gguf_type: str = "f16", replace: bool = False, allow_stale: bool = False
    ) -> Job:
        """Write and verify a GGUF file (``core.shipping.gguf``); the job is named "export".
        A stale fused model is refused unless ``allow_stale``."""
        return self.worker.submit("export", _export_gguf, fused, out, gguf_type, replace, allow_stale)
