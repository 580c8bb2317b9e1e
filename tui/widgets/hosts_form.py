"""Where a run trains, on the Config tab: this Mac alone (nothing typed),
several processes here (per host), or several Macs through mlx.launch (a
host list or mlx.launch's hostfile), with the backend. Below it, what that
means and the pre-flight's verdict: ssh, versions, folders and a timed
all-reduce on every host (``core.training.group_doctor``), which a run on
other Macs must pass before it starts."""

from __future__ import annotations

from pathlib import Path

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Input, Label, Select

from core.runtime.errors import TuneDeckError
from core.training.group_doctor import HostsReport
from core.training.group_launch import BACKENDS, Controls, GroupSpec, group_spec, is_this_machine
from tui.widgets.status_line import Status, StatusLine

# The group's messages, naming this tab's fields (the CLI's name its flags).
TUI_CONTROLS = Controls(
    hosts="the hosts field",
    hostfile="the hosts field",
    processes="per host",
    give_hostfile="type the path of an existing hostfile in hosts",
    give_processes="type 2 in per host to train in two processes",
    drop_processes="set per host to 1",
    list_hosts="type hosts as 10.0.0.1,10.0.0.2",
    give_ips="type IP addresses in hosts, or the path of a hostfile with each host's ssh name and IPs",
    batch="batch {options} above",
)
ALONE = "one process on this Mac · type IP,IP or hosts.json to train across Macs"
AUTO = "auto"  # the hostfile's own backend, else ring
SHOWN = 2  # failures listed under the row at 80x24 (the Run tab's log lists every one)


def is_hostfile(text: str) -> bool:
    """A path (mlx.launch's JSON hostfile) rather than a list of addresses."""
    return text.endswith(".json") or "/" in text or text.startswith("~") or Path(text).expanduser().is_file()


def remote(group: GroupSpec) -> list[str]:
    """The group's machines other than this one: what the pre-flight is for."""
    return [h for h in group.machines if not is_this_machine(h, [h])]


class HostsForm(Vertical):
    """``spec()`` reads the group (None: one process here); ``show_report``
    shows a pre-flight; ``passed(group, folders)`` says whether the last one
    passed for exactly this group and these folders."""

    DEFAULT_CSS = """
    HostsForm { height: auto; margin: 1 0 0 0; }
    HostsForm #hosts-row { height: 1; padding: 0 1; }
    HostsForm #hosts-row Label { color: $text-muted; margin: 0 1 0 0; }
    HostsForm #hosts-row Label.lead { width: 13; margin: 0; }
    HostsForm #hosts { width: 1fr; height: 1; border: none; padding: 0 1; background: $boost; }
    HostsForm #per-host { width: 5; height: 1; border: none; padding: 0 1; background: $boost; margin: 0 1 0 0; }
    HostsForm Input:focus { background: $primary 30%; }
    HostsForm #backend { width: 12; height: 1; }
    HostsForm #hosts-info { height: auto; padding: 0 1; color: $text-muted; }
    """

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self._passed: tuple | None = None  # (group, folders) of the last pre-flight that passed

    def compose(self) -> ComposeResult:
        with Horizontal(id="hosts-row"):
            yield Label("hosts", classes="lead")
            yield Input(id="hosts", placeholder="this Mac · IP,IP · hosts.json", compact=True)
            yield Label("per host")
            yield Input("1", id="per-host", type="integer", compact=True)
            options = [(AUTO, AUTO)] + [(b, b) for b in BACKENDS]
            yield Select(options, id="backend", value=AUTO, allow_blank=False, compact=True)
        yield StatusLine(ALONE, id="hosts-info")

    @property
    def info(self) -> StatusLine:
        return self.query_one("#hosts-info", StatusLine)

    # -- the setting --------------------------------------------------------
    def fill(self, saved: dict | None) -> None:
        """The setting as the app's settings file remembers it."""
        saved = saved or {}
        self.query_one("#hosts", Input).value = str(saved.get("hosts") or "")
        self.query_one("#per-host", Input).value = str(saved.get("per_host") or 1)
        self.query_one("#backend", Select).value = saved.get("backend") or AUTO

    def values(self) -> dict:
        backend = self.query_one("#backend", Select).value
        per = self.query_one("#per-host", Input).value.strip()
        return {
            "hosts": self.query_one("#hosts", Input).value.strip(),
            "per_host": int(per) if per.isdigit() else per,
            "backend": None if backend == AUTO else backend,
        }

    def spec(self) -> GroupSpec | None:
        """The group typed here, or None for one process on this Mac; a
        mistake raises ``TuneDeckError`` naming this tab's fields."""
        v = self.values()
        per, text = v["per_host"], v["hosts"]
        if not isinstance(per, int) or per < 1:
            raise TuneDeckError(f"per host {per!r} is not a whole number of 1 or more", "type 1 in per host")
        if text and is_hostfile(text):
            if per > 1:
                raise TuneDeckError(
                    "per host works with a list of hosts: a hostfile runs one process per entry",
                    "set per host to 1 (list a host twice in the hostfile for two there)",
                )
            group = group_spec(hostfile=text, backend=v["backend"], say=TUI_CONTROLS)
        else:
            group = group_spec(per, text or None, None, v["backend"], say=TUI_CONTROLS)
        return group if group is not None and group.processes > 1 else None

    @on(Input.Changed, "#hosts, #per-host")
    @on(Select.Changed, "#backend")
    def show_plan(self) -> None:
        """What the setting means, as it is typed."""
        try:
            group = self.spec()
        except TuneDeckError as exc:
            self.info.failed(exc)
            return
        if group is None:
            self.info.status = Status("idle", ALONE)
            return
        away = remote(group)
        if self._passed and self._passed[0] == group:
            self.info.show(f"{group.describe()} · pre-flight passed · s starts the run there", "ok")
        elif away:
            self.info.show(f"{group.describe()} · p checks {', '.join(away)} (s checks first too)")
        else:
            self.info.show(f"{group.describe()} · p times an all-reduce between them")

    # -- the pre-flight -----------------------------------------------------
    def passed(self, group: GroupSpec, folders: list[str]) -> bool:
        return self._passed == (group, [str(Path(f).expanduser().absolute()) for f in folders if f])

    def show_checking(self, message: str) -> None:
        self.info.show(f"pre-flight: {message}…", "working")

    def show_report(self, report: HostsReport) -> None:
        """Each failure with its host and fix; or what the all-reduce measured."""
        if report.ready:
            self._passed = (report.group, report.folders)
            said = report.bandwidth()
            self.info.show(
                f"pre-flight passed on {len(report.group.machines)} hosts" + (f": all-reduce {said}" if said else ""),
                "ok",
            )
            return
        self._passed = None
        # An all-reduce "not tried" for want of a host follows from that host's line: room for the fixes.
        causes = [c for c in report.failures if not (c.id == "all-reduce" and c.detail.startswith("not tried"))]
        causes = causes or report.failures
        lines = [f"{c.name}: {c.detail}" + (f"\n  fix: {c.fix}" if c.fix else "") for c in causes[:SHOWN]]
        if len(causes) > SHOWN:  # the rest below the screen's edge: the log has room
            lines.append(f"and {len(causes) - SHOWN} more: the Run tab's log lists them all")
        self.info.show(f"pre-flight: {len(causes)} to fix before a run there\n" + "\n".join(lines), "error")
