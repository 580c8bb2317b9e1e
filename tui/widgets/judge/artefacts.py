"""What the Judge & ship screen judges and ships, and the panel that says so.

``Artefacts`` works the facts out from the session and the adapter choice
(last | best): the adapter, whether ``<run>/fused`` still matches it
(``core.shipping.provenance``), and where an LM Studio export goes. The
``ArtefactsPanel`` shows them in four lines; the screen's actions read the
same object, so what they do is what the panel said.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from rich.text import Text
from textual.widgets import Static

from core.evaluation.judge import results_dir
from core.shipping.lmstudio import lmstudio_root, lmstudio_target
from core.shipping.provenance import Freshness, adapter_iteration, adapter_run, check_fused
from core.training.run_folders import BEST
from tui.session import Session


def fused_dir(adapter: str) -> Path:
    """Where the fused model goes: ``<run>/fused``, else beside the adapter."""
    folder = results_dir(adapter)
    adapter_path = Path(adapter)
    return folder / "fused" if folder != adapter_path else adapter_path.with_name(adapter_path.name + "-fused")


def short(path: str | Path) -> str:
    """A path with the home folder as ``~`` (80 columns are few)."""
    text, home = str(path), str(Path.home())
    return "~" + text[len(home) :] if home != "/" and (text == home or text.startswith(home + "/")) else text


def other_choice(choice: str) -> str:
    return "best" if choice == "last" else "last"


@dataclass(frozen=True)
class Artefacts:
    session: Session
    choice: str = "last"  # which of the run's adapters is judged and fused: last | best

    def run_dir(self) -> Path | None:
        if self.session.run_dir:
            return Path(self.session.run_dir)
        return adapter_run(self.session.adapter_path) if self.session.adapter_path else None

    def adapter_for(self, choice: str) -> str | None:
        """The run's last adapter (the session's) or its best/ one."""
        if choice == "last":
            return self.session.adapter_path
        run = self.run_dir()
        return str(run / BEST) if run is not None else None

    def adapter(self) -> str | None:
        return self.adapter_for(self.choice)

    def has_adapter(self, choice: str) -> bool:
        path = self.adapter_for(choice)
        return bool(path) and (Path(path) / "adapters.safetensors").is_file()

    def fused(self) -> Path | None:
        adapter = self.session.adapter_path
        return fused_dir(adapter) if adapter else None

    def freshness(self) -> Freshness | None:
        out = self.fused()
        return check_fused(out) if out is not None and out.is_dir() else None

    def lmstudio_target(self) -> Path | None:
        source = self.fused()
        if source is None:
            return None
        try:
            return lmstudio_target(source, self.session.lmstudio_root)
        except Exception:  # a name that cannot be a folder: the export job explains it
            return None

    # -- the panel's lines ---------------------------------------------------
    def adapter_line(self) -> str:
        adapter = self.adapter()
        if not adapter:
            return "adapter none yet (train on step 4)"
        it = adapter_iteration(adapter)
        run = adapter_run(adapter)
        where = f"run {run.name} · adapter {self.choice}" if run is not None else f"adapter {short(adapter)}"
        line = where + (f" (iteration {it})" if it else "")
        other = other_choice(self.choice)
        if self.has_adapter(other):
            line += f" · a: {other}"
        return line

    def fused_line(self) -> Text:
        out = self.fused()
        if out is None:
            return Text("fused: nothing to fuse yet")
        if not out.exists():
            return Text(f"fused: not yet (f fuses the {self.choice} adapter into {short(out)})")
        fresh = self.freshness()
        if fresh is None:
            return Text(f"fused: {short(out)} is not a TuneDeck fused model (f will not replace it)", style="yellow")
        if fresh.stale:
            its = (fresh.fused_iteration, fresh.now_iteration)
            why = (
                f"fused at iteration {its[0]}, adapter now at {its[1]}"
                if all(its) and its[0] != its[1]
                else fresh.reason
            )
            return Text(f"fused: OUT OF DATE, {why} · f fuses again", style="bold yellow")
        if fresh.state == "unknown":
            return Text(f"fused: {fresh.reason}", style="yellow")
        at = f", iteration {fresh.fused_iteration}" if fresh.fused_iteration else ""
        origin = f"{fresh.choice} adapter{at}" if fresh.choice else fresh.source()
        text = Text(f"fused: up to date ({origin})", style="green")
        if fresh.choice and fresh.choice != self.choice:
            text.append(f" · f fuses the {self.choice} one instead")
        return text

    def lmstudio_line(self) -> str:
        target = self.lmstudio_target()
        root = lmstudio_root(self.session.lmstudio_root)
        where = short(target) if target is not None else short(root)
        missing = "" if root.is_dir() else " (made on export)"
        return f"LM Studio: {where}{missing} · o: folder"

    def describe(self) -> Text:
        session = self.session
        model = Path(session.model_path).name if session.model_path else "none (choose one on step 2)"
        data = short(session.data_dir) if session.data_dir else "none"
        text = Text(f"model {model} · data {data}\n{self.adapter_line()}\n")
        text.append_text(self.fused_line())
        text.append(f"\n{self.lmstudio_line()}")
        return text


class ArtefactsPanel(Static):
    DEFAULT_CSS = "ArtefactsPanel { padding: 0 1; height: auto; max-height: 7; color: $text-muted; }"

    def show(self, artefacts: Artefacts) -> None:
        self.update(artefacts.describe())
