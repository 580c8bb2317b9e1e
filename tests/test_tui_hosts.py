"""Where a run trains, set on the Train screen's Config tab: this Mac, several
processes, or several Macs through mlx.launch; said in the tab's own words,
and checked by the pre-flight before a run goes to another Mac. The other
Mac is stood in for by an ssh that runs the command here (standin_ssh)."""

from __future__ import annotations

import asyncio

import pytest
from standin_ssh import install, two_macs
from textual.widgets import Input
from ui_helpers import Alone, at_step, record_notifications, wait_for

from core.runtime import paths
from core.runtime.doctor import Check
from core.training.group_doctor import HostsReport
from core.training.group_launch import GroupSpec
from core.training.run_folders import read_events
from tui.app import make_app
from tui.widgets.hosts_form import HostsForm


def runs_made() -> list:
    return sorted(paths.runs_dir().glob("*")) if paths.runs_dir().exists() else []


def test_the_hosts_row_says_what_it_means_in_the_tabs_words(tmp_path, demo_model, sample_data):
    async def body():
        async with at_step("train", model_path=demo_model, data_dir=sample_data) as (app, pilot, notes):
            screen = app.screen
            screen.query_one("#tabs").active = "tab-config"
            hosts, per = screen.query_one("#hosts", Input), screen.query_one("#per-host", Input)
            info = screen.hosts.info
            assert info.status.message.startswith("one process on this Mac")
            said = []
            for text, expected in [
                ("127.0.0.1,mac2", "the hosts field names 'mac2': the ring backend connects by IP address"),
                ("192.0.2.7,127.0.0.1", "is not this machine: rank 0 runs there"),
                (str(tmp_path / "missing.json"), "does not exist"),
            ]:
                hosts.value = text
                await pilot.pause()
                assert info.status.kind == "error" and expected in info.status.message, info.status
                said.append(info.status)
            assert "type the path of an existing hostfile" in said[-1].hint
            hosts.value, per.value = "", "2"
            await pilot.pause()
            assert info.status.message == "2 processes on this machine (ring) · p times an all-reduce between them"

            # A batch that does not split over the processes: refused before anything starts.
            screen.query_one("#batch", Input).value = "3"
            screen.set_focus(None)
            await pilot.press("s")
            await pilot.pause()
            refused = info.status
            assert refused.kind == "error" and "batch size 3 does not split over 2 processes" in refused.message
            assert "batch 2 or 4 above" in refused.hint
            assert screen.job is None and runs_made() == []
            assert any(n.message.startswith("Not started") for n in notes)

            per.value = "1"
            screen.set_focus(None)
            await pilot.press("p")
            await pilot.pause()
            assert info.status.kind == "warning" and "nothing to check" in info.status.message
            # Each message names this tab's fields, never a command's flags.
            assert not [s for s in [*said, refused] if "--" in s.message + s.hint]

    asyncio.run(body())


def test_a_preflight_lists_what_fits_under_the_row_and_passes_for_its_group_only():
    group = GroupSpec(["127.0.0.1", "10.0.0.2", "10.0.0.3"])
    bad = [Check(f"ssh:{h}", f"{h}: ssh", "fail", "no machine of that name answers", f"check {h}") for h in "abc"]
    bad.append(Check("all-reduce", "all-reduce", "fail", "not tried: a host is not reachable", "fix the ssh lines"))

    async def body():
        form = HostsForm()
        async with Alone(form).run_test(size=(80, 24)) as pilot:
            form.show_report(HostsReport(group, ["/m", "/d"], bad))
            await pilot.pause()
            shown = form.info.status.message
            assert shown.startswith("pre-flight: 3 to fix before a run there\na: ssh: no machine")
            assert "b: ssh" in shown and "c: ssh" not in shown and "all-reduce" not in shown
            assert shown.endswith("and 1 more: the Run tab's log lists them all")
            assert not form.passed(group, ["/m", "/d"])
            good = Check("all-reduce", "all-reduce", "pass", "16.0 MB over 3 processes (ring): 9 ms, 14.9 Gbit/s")
            form.show_report(HostsReport(group, ["/m", "/d"], [good]))
            assert form.passed(group, ["/m", "/d"]) and not form.passed(group, ["/m", "/other"])
            assert not form.passed(GroupSpec(["127.0.0.1", "10.0.0.2"]), ["/m", "/d"])
            assert form.info.status.message == f"pre-flight passed on 3 hosts: all-reduce {good.detail}"

    asyncio.run(body())


def test_a_run_for_another_mac_that_fails_its_preflight_is_not_started(tmp_path, monkeypatch, demo_model, sample_data):
    async def body():
        install(tmp_path / "bin", monkeypatch, deny=("mac2",))
        hostfile = two_macs(tmp_path)
        async with at_step("train", model_path=demo_model, data_dir=sample_data) as (app, pilot, notes):
            screen = app.screen
            screen.query_one("#hosts", Input).value = str(hostfile)
            await pilot.pause()
            assert "p checks mac2 (s checks first too)" in screen.hosts.info.status.message
            screen.set_focus(None)
            await pilot.press("s")
            await wait_for(pilot, lambda: screen.preflight_job is not None and screen.preflight_job.done, 60)
            await pilot.pause()
            shown = screen.hosts.info.status
            assert shown.kind == "error" and shown.message.startswith("pre-flight: 1 to fix before a run there")
            assert "mac2: ssh: cannot log in without a password" in shown.message
            assert "fix: turn on Remote Login on mac2, then `ssh-copy-id mac2`" in shown.message
            assert "all-reduce" not in shown.message  # not tried for want of mac2: its own line says why
            assert screen.query_one("#tabs").active == "tab-config"
            screen.query_one("#tabs").active = "tab-run"  # the log has every line
            await pilot.pause(0.3)
            log = " ".join(line.text for line in screen.query_one("#log").lines)
            assert "pre-flight: all-reduce: not tried" in log, log
            assert screen.job is None and runs_made() == []
            assert any("the pre-flight found problems" in n.message for n in notes)

    asyncio.run(body())


@pytest.mark.slow
def test_a_run_across_two_macs_starts_from_the_tui_after_its_preflight(tmp_path, monkeypatch, demo_model, sample_data):
    async def body():
        install(tmp_path / "bin", monkeypatch)
        hostfile = two_macs(tmp_path)
        async with at_step("train", model_path=demo_model, data_dir=sample_data) as (app, pilot, notes):
            screen = app.screen
            for field, value in (("#hosts", str(hostfile)), ("#iters", "6"), ("#batch", "2"), ("#reportsteps", "2")):
                screen.query_one(field, Input).value = value
            await pilot.pause()
            screen.set_focus(None)
            await pilot.press("s")  # the pre-flight first (mac2 is another machine), then the run
            await wait_for(pilot, lambda: screen.job is not None and screen.job.done, 240)
            await pilot.pause()
            log = "\n".join(line.text for line in screen.query_one("#log").lines)
            assert "pre-flight passed: 16.0 MB over 2 processes (ring)" in log, log
            assert "2 processes on 2 hosts: localhost, mac2" in log, log
            assert "Training finished after 6 iterations" in str(screen.stats.status.message)
            (run,) = runs_made()
            records = read_events(run)
            start = next(r for r in records if r["type"] == "start")
            assert start["processes"] == 2 and start["hosts"] == ["localhost", "mac2"]
            reported = [r["iteration"] for r in records if r["type"] == "train"]
            assert reported == sorted(set(reported)) and reported[-1] == 6  # each report once: rank 0 alone writes
            assert (run / "adapters" / "adapters.safetensors").is_file()
            assert app.config["hosts"] == {"hosts": str(hostfile), "per_host": 1, "backend": None}

        # The next TuneDeck remembers where runs train.
        again = make_app()
        record_notifications(again)
        async with again.run_test(size=(80, 24)) as pilot:
            again.go("train")
            await pilot.pause()
            assert again.screen.query_one("#hosts", Input).value == str(hostfile)

    asyncio.run(body())
