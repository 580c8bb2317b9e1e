"""What the walkthrough has chosen so far, shared by all screens."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Session:
    model_path: str | None = None
    model_label: str = ""
    data_dir: str | None = None
    adapter_path: str | None = None  # the latest finished training run
    hub_reachable: bool | None = None
    run_dir: str | None = None  # the run folder of adapter_path
    model_info: object | None = None  # core.models.model_info.ModelInfo of model_path (size, params, bits…)
    lmstudio_root: str | None = None  # chosen on the Judge screen (o); None: env, settings or default

    @property
    def steps_done(self) -> set[str]:
        done = {"env"}
        if self.model_path:
            done.add("model")
        if self.data_dir:
            done.add("data")
        if self.adapter_path:
            done.add("train")
        return done
