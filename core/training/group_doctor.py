"""The pre-flight of a run on several Macs (``tunedeck doctor --hostfile``).

For every host of the group: reachable over ssh without a password; the
same Python, TuneDeck, mlx and mlx-lm as this machine (each rank runs
``sys.executable -m core.training.run_process`` there, so the same path
too); the model and data folders at the same paths, or the command that
copies them; then a short all-reduce through the chosen backend, with the
bandwidth it measured. Each check is a ``core.runtime.doctor.Check``; a
failure names the host and its fix. Entries that are this machine are
checked without ssh.
"""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from core.runtime.doctor import Check
from core.training.group_launch import ANSI, GroupSpec, is_this_machine, launch_command
from core.training.group_probe import PROBE_MARK

SSH_TIMEOUT = 5  # seconds to connect: an unreachable host is said quickly
PROBE_MEGABYTES = 16
PROBE_TIMEOUT = 60
DISTS = ("tunedeck", "mlx", "mlx-lm")

# What each host runs (its own Python): versions, and what it has at the given paths.
REPORT = """
import json, sys, os
from importlib import metadata
def v(d):
    try: return metadata.version(d)
    except Exception: return None
def folder(p):
    if not os.path.isdir(p): return None
    n = size = 0
    for root, _, names in os.walk(p):
        for name in names:
            try: size += os.path.getsize(os.path.join(root, name)); n += 1
            except OSError: pass
    return [n, size]
print(json.dumps({"python": sys.version.split()[0], "versions": {d: v(d) for d in %r},
                  "folders": {p: folder(p) for p in sys.argv[1:]}}))
"""


def _mine(paths: list[str]) -> dict:
    out = subprocess.run([sys.executable, "-c", REPORT % (DISTS,), *paths], capture_output=True, text=True, timeout=60)
    return json.loads(out.stdout)


def _ask(host: str, paths: list[str]) -> tuple[dict | None, Check | None]:
    """The host's report, or the check that says why there is none."""
    remote = shlex.join([sys.executable, "-c", REPORT % (DISTS,), *paths])
    cmd = ["ssh", "-o", "BatchMode=yes", "-o", f"ConnectTimeout={SSH_TIMEOUT}", host, remote]
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=SSH_TIMEOUT + 30)
    except FileNotFoundError:
        return None, Check(f"ssh:{host}", f"{host}: ssh", "fail", "no ssh command here", "install OpenSSH")
    except subprocess.TimeoutExpired:
        return None, Check(
            f"ssh:{host}", f"{host}: ssh", "fail", "ssh did not answer in time", f"check that {host} is on and awake"
        )
    said = (out.stderr.strip().splitlines() or [""])[-1]
    if out.returncode == 255 and "resolve hostname" in said:
        return None, Check(
            f"ssh:{host}",
            f"{host}: ssh",
            "fail",
            "no machine of that name answers",
            f"check the name in the hostfile (`ssh {host} true` must work), or give its IP",
        )
    if out.returncode == 255:
        return None, Check(
            f"ssh:{host}",
            f"{host}: ssh",
            "fail",
            f"cannot log in without a password: {said or 'ssh failed'}",
            f"turn on Remote Login on {host}, then `ssh-copy-id {host}` and `ssh {host} true` once "
            "(accept its host key)",
        )
    if out.returncode == 127 or "No such file" in said:
        return None, Check(
            f"python:{host}",
            f"{host}: Python",
            "fail",
            f"no Python at {sys.executable} there",
            f"install TuneDeck on {host} at the same path (each rank runs {sys.executable} there)",
        )
    try:
        return json.loads(out.stdout.strip().splitlines()[-1]), None
    except (ValueError, IndexError):
        return None, Check(
            f"python:{host}",
            f"{host}: Python",
            "fail",
            f"its Python failed: {said}",
            f"run `tunedeck doctor` on {host}",
        )


@dataclass
class HostsReport:
    """The pre-flight of one group for one model and dataset."""

    group: GroupSpec
    folders: list[str]
    checks: list[Check]

    @property
    def ready(self) -> bool:
        return all(c.status != "fail" for c in self.checks)

    @property
    def failures(self) -> list[Check]:
        return [c for c in self.checks if c.status == "fail"]

    def bandwidth(self) -> str:
        """What the all-reduce measured, when it passed."""
        return next((c.detail for c in self.checks if c.id == "all-reduce" and c.status == "pass"), "")


def preflight(spec: GroupSpec, folders: list[str], progress: Callable[[str], None] = lambda _m: None) -> HostsReport:
    """``check_hosts`` as one report, saying each step as it goes."""
    folders = [str(Path(f).expanduser().absolute()) for f in folders if f]
    return HostsReport(spec, folders, check_hosts(spec, folders, progress=progress))


def check_hosts(
    spec: GroupSpec, folders: list[str], probe: bool = True, progress: Callable[[str], None] = lambda _m: None
) -> list[Check]:
    """Every check of ``spec``'s hosts, ``folders`` (model, data) at the same paths on each."""
    folders = [str(Path(f).expanduser().absolute()) for f in folders if f]
    progress("checking this machine")
    here = _mine(folders)
    checks: list[Check] = [
        Check(f"folder:{f}", Path(f).name, "fail", f"{f} is not a folder on this machine", "give an existing folder")
        for f in folders
        if here["folders"].get(f) is None
    ]
    reachable = True
    for host in spec.machines:
        if is_this_machine(host, [host]):
            continue
        progress(f"asking {host} over ssh")
        report, problem = _ask(host, folders)
        if problem is not None:
            checks.append(problem)
            reachable = False
            continue
        checks.append(Check(f"ssh:{host}", f"{host}: ssh", "pass", "logs in without a password"))
        checks.append(_versions(host, here, report))
        checks += [_folder(host, f, here["folders"].get(f), report["folders"].get(f)) for f in folders]
    if probe:
        if reachable:
            progress(f"timing an all-reduce through {spec.backend}")
        checks.append(
            check_all_reduce(spec)
            if reachable
            else Check("all-reduce", "all-reduce", "fail", "not tried: a host is not reachable", "fix the ssh lines")
        )
    return checks


def _versions(host: str, here: dict, there: dict) -> Check:
    wrong = []
    if there["python"] != here["python"]:
        wrong.append(f"Python {there['python']} (here {here['python']})")
    for dist in DISTS:
        if there["versions"].get(dist) != here["versions"].get(dist):
            wrong.append(f"{dist} {there['versions'].get(dist) or 'missing'} (here {here['versions'].get(dist)})")
    if not wrong:
        return Check(f"versions:{host}", f"{host}: versions", "pass", f"Python {here['python']}, same packages")
    pins = " ".join(f"{d}=={here['versions'][d]}" for d in DISTS[1:] if here["versions"].get(d))
    return Check(
        f"versions:{host}",
        f"{host}: versions",
        "fail",
        "; ".join(wrong),
        f"install the same there: `ssh {host} {sys.executable} -m pip install {pins}` (and this TuneDeck)",
    )


def _folder(host: str, path: str, here, there) -> Check:
    copy = f"rsync -a --mkpath {shlex.quote(path)}/ {host}:{shlex.quote(path)}/"
    name = f"{host}: {Path(path).name}"
    if here is None:
        return Check(f"folder:{host}:{path}", name, "fail", f"{path} is not a folder here", "give an existing folder")
    if there is None:
        return Check(f"folder:{host}:{path}", name, "fail", f"{path} is missing there", f"copy it: `{copy}`")
    if there != here:
        return Check(
            f"folder:{host}:{path}",
            name,
            "fail",
            f"{path} differs there ({there[0]} files, {there[1]:,} bytes; here {here[0]}, {here[1]:,})",
            f"copy it again: `{copy}`",
        )
    return Check(f"folder:{host}:{path}", name, "pass", f"{path}: the same {here[0]} files")


def check_all_reduce(spec: GroupSpec, megabytes: float = PROBE_MEGABYTES) -> Check:
    """A timed all-reduce of ``megabytes`` through ``spec``'s backend, via mlx.launch."""
    cmd = launch_command(spec, [sys.executable, "-m", "core.training.group_probe", str(megabytes)])
    try:
        out = subprocess.run(
            cmd, stdin=subprocess.PIPE, capture_output=True, text=True, timeout=PROBE_TIMEOUT, errors="replace"
        )
    except subprocess.TimeoutExpired:
        return Check(
            "all-reduce",
            "all-reduce",
            "fail",
            f"no answer in {PROBE_TIMEOUT} s through {spec.backend}",
            "check that the hosts reach each other at the hostfile's IPs (firewall: allow incoming connections)",
        )
    text = ANSI.sub("", out.stdout + out.stderr)
    for line in text.splitlines():
        if line.startswith(PROBE_MARK):
            got = json.loads(line[len(PROBE_MARK) :])
            return Check(
                "all-reduce",
                "all-reduce",
                "pass",
                f"{got['bytes'] / 1e6:.1f} MB over {got['processes']} processes ({spec.backend}): "
                f"{got['seconds'] * 1000:.1f} ms, {got['gbps']:.2f} Gbit/s",
            )
    said = next((ln for ln in reversed(text.splitlines()) if ln.strip()), "no output")
    return Check(
        "all-reduce",
        "all-reduce",
        "fail",
        f"the all-reduce through {spec.backend} failed: {said}",
        "check the hostfile's IPs and backend (`mlx.distributed_config` writes one)",
    )
