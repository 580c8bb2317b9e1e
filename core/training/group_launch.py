"""Where a run's processes go: one machine, a host list or a hostfile, and
the ``mlx.launch`` command that starts them there.

``mlx.launch`` is MLX's own launcher (ring backend by default; MPI and
JACCL too). Its hostfile is JSON, as ``mlx.distributed_config`` writes it:
``{"backend": "...", "envs": [...], "hosts": [{"ssh": NAME, "ips": [IP, ...]}, ...]}``
(or just the list of hosts). Rank ``r`` runs on the ``r``-th host; the run
folder lives with rank 0, on the first host, which must be this machine.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import shutil
import socket
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

from core.runtime.errors import TuneDeckError

BACKENDS = ("ring", "mpi", "jaccl")
LOCAL = "127.0.0.1"  # what mlx.launch runs without ssh
ANSI = re.compile(r"\x1b\[[0-9;]*m")  # the colours of mlx.launch's own lines
# How a group run's failure hint ends when it can resume: each interface adds its own way to.
SAME_HOSTS = "on the same hosts"


@dataclass
class GroupSpec:
    """The processes of one run: ``hosts[r]`` is where rank ``r`` runs."""

    hosts: list[str] = field(default_factory=lambda: [LOCAL])
    backend: str = "ring"
    hostfile: str = ""  # mlx.launch's own hostfile, when the hosts came from one
    processes_per_host: int = 1  # --processes N on one machine: the same host N times

    @property
    def processes(self) -> int:
        return len(self.hosts)

    @property
    def machines(self) -> list[str]:
        """Each host once, in rank order."""
        return list(dict.fromkeys(self.hosts))

    def as_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> GroupSpec:
        return cls(**{k: data[k] for k in ("hosts", "backend", "hostfile", "processes_per_host") if k in data})

    def describe(self) -> str:
        where = "this machine" if self.machines == [LOCAL] else ", ".join(self.machines)
        return f"{self.processes} processes on {where} ({self.backend})"


@dataclass(frozen=True)
class Controls:
    """How an interface names its group controls, so that a message says
    what to change where the user is: the CLI's flags, or the TUI's fields."""

    hosts: str = "--hosts"  # the host list
    hostfile: str = "--hostfile"
    processes: str = "--processes"
    give_hostfile: str = "give --hostfile an existing file"
    give_processes: str = "pass --processes 2 to train in two processes"
    drop_processes: str = "leave --processes out"
    list_hosts: str = "list hosts as --hosts 10.0.0.1,10.0.0.2"
    give_ips: str = "give --hosts IP addresses, or a --hostfile with each host's ssh name and IPs"
    batch: str = "--batch-size {options}"


CLI = Controls()


def read_hostfile(path: str | Path, say: Controls = CLI) -> dict:
    """mlx.launch's hostfile, checked: {"backend", "envs", "hosts": [{"ssh", "ips"}]}."""
    path = Path(path).expanduser()
    fix = 'write it as mlx.distributed_config does: {"hosts": [{"ssh": "mac1", "ips": ["10.0.0.1"]}, ...]}'
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise TuneDeckError(f"the hostfile {path} does not exist", say.give_hostfile) from None
    except (OSError, ValueError) as exc:
        raise TuneDeckError(f"the hostfile {path} is not readable JSON ({exc})", fix) from None
    hosts = data.get("hosts") if isinstance(data, dict) else data
    if not isinstance(hosts, list) or not hosts:
        raise TuneDeckError(f"the hostfile {path} lists no hosts", fix)
    for i, h in enumerate(hosts):
        if not isinstance(h, dict) or not isinstance(h.get("ssh"), str) or not h["ssh"]:
            raise TuneDeckError(f'host {i + 1} in {path} has no "ssh" name', fix)
    return {
        "backend": data.get("backend", "") if isinstance(data, dict) else "",
        "hosts": hosts,
        "path": str(path.absolute()),
    }


def group_spec(
    processes: int | None = None,
    hosts: str | None = None,
    hostfile: str | None = None,
    backend: str | None = None,
    say: Controls = CLI,
) -> GroupSpec | None:
    """The group the user asked for, or None for a plain one-process run;
    messages name the controls as ``say`` does."""
    given = [name for name, v in ((say.hosts, hosts), (say.hostfile, hostfile)) if v]
    if len(given) > 1:
        raise TuneDeckError(f"give {say.hosts} or {say.hostfile}, not both", "a hostfile already lists its hosts")
    if backend is not None and backend not in BACKENDS:
        raise TuneDeckError(f"unknown backend {backend!r}", f"use one of {', '.join(BACKENDS)}")
    if processes is not None and processes < 1:
        raise TuneDeckError(f"{say.processes} must be 1 or more", say.give_processes)
    if hostfile:
        found = read_hostfile(hostfile, say)
        names = [h["ssh"] for h in found["hosts"]]
        if found["backend"] and found["backend"] not in BACKENDS:
            raise TuneDeckError(
                f"the hostfile asks for the {found['backend']!r} backend", f"use one of {', '.join(BACKENDS)}"
            )
        chosen = backend or found["backend"] or "ring"
        if chosen == "ring":
            for h in found["hosts"]:
                if not h.get("ips"):
                    raise TuneDeckError(
                        f'{h["ssh"]} has no "ips" in {hostfile}: the ring backend connects by IP address',
                        'add its address ("ips": ["10.0.0.2"]), or write the file with '
                        "`mlx.distributed_config --over thunderbolt --hosts ...`",
                    )
        _check_first_host(found["hosts"][0]["ssh"], found["hosts"][0].get("ips") or [], f"the first host in {hostfile}")
        if processes is not None and processes != len(names):
            raise TuneDeckError(
                f"{say.processes} {processes} but {hostfile} lists {len(names)} hosts",
                f"{say.drop_processes}: a hostfile runs one process per host entry (list a host twice for two)",
            )
        return GroupSpec(names, chosen, found["path"], 1)
    if hosts:
        names = [h.strip() for h in hosts.split(",")]
        if any(not n for n in names):
            raise TuneDeckError(f"{say.hosts} {hosts!r} has an empty name", say.list_hosts)
        chosen = backend or "ring"
        if chosen == "ring":
            for n in names:
                try:
                    ipaddress.ip_address(n)
                except ValueError:
                    raise TuneDeckError(
                        f"{say.hosts} names {n!r}: the ring backend connects by IP address", say.give_ips
                    ) from None
        _check_first_host(names[0], [names[0]], f"the first of {say.hosts}")
        per = processes or 1
        return GroupSpec([n for n in names for _ in range(per)], chosen, "", per)
    if processes and processes > 1:
        return GroupSpec([LOCAL] * processes, backend or "ring", "", processes)
    return None


def launched_rank() -> int:
    """This process's rank as its launcher said it (mlx.launch: MLX_RANK;
    mpirun: OMPI_COMM_WORLD_RANK), known before MLX's group is joined: for
    what a process prints only (the trainer asks MLX's group itself)."""
    for name in ("MLX_RANK", "OMPI_COMM_WORLD_RANK", "PMI_RANK"):
        value = os.environ.get(name, "")
        if value.isdigit():
            return int(value)
    return 0


def is_this_machine(name: str, ips: list[str]) -> bool:
    """Whether a host entry is this machine: its name, or an address of ours (one we can bind)."""
    me = socket.gethostname()
    if name in ("localhost", LOCAL, me, me.split(".")[0], f"{me.split('.')[0]}.local"):
        return True
    for ip in ips:
        try:
            with socket.socket(socket.AF_INET6 if ":" in ip else socket.AF_INET) as probe:
                probe.bind((ip, 0))
            return True
        except OSError:
            continue
    return False


def _check_first_host(name: str, ips: list[str], what: str) -> None:
    if not is_this_machine(name, ips):
        raise TuneDeckError(
            f"{what} ({name}) is not this machine: rank 0 runs there and keeps the run folder",
            f"start the run on {name}, or list this machine first",
        )


def check_batch_for_group(batch_size: int, processes: int, say: Controls = CLI) -> None:
    """Each process trains its share of every batch: the batch must split evenly."""
    if processes > 1 and batch_size % processes:
        lower = batch_size - batch_size % processes
        options = [str(n) for n in (lower, lower + processes) if n > 0]
        raise TuneDeckError(
            f"batch size {batch_size} does not split over {processes} processes "
            "(each process trains an equal share of every batch)",
            f"use a batch size that {processes} divides ({say.batch.format(options=' or '.join(options))}), "
            f"or a number of processes that divides {batch_size}",
        )


def mlx_launch() -> str:
    """The ``mlx.launch`` installed beside this Python (the one mlx comes with)."""
    beside = Path(sys.executable).parent / "mlx.launch"
    if beside.is_file():
        return str(beside)
    found = shutil.which("mlx.launch")
    if found:
        return found
    raise TuneDeckError("mlx.launch is not installed beside this Python", "pip install mlx (it comes with it)")


def launch_command(spec: GroupSpec, command: list[str]) -> list[str]:
    """``mlx.launch`` starting ``command`` once per rank, where ``spec`` says."""
    cmd = [mlx_launch(), "--backend", spec.backend]
    if spec.hostfile:
        cmd += ["--hostfile", spec.hostfile]
    else:
        cmd += ["--hosts", ",".join(dict.fromkeys(spec.hosts))]
    if spec.processes_per_host > 1:
        cmd += ["-n", str(spec.processes_per_host)]
    if spec.backend == "ring" and spec.machines == [LOCAL]:
        # Its fixed default ports would collide with another local group run (or a test's).
        cmd += ["--starting-port", str(free_ports(spec.processes))]
    return [*cmd, "--", *command]


def free_ports(n: int) -> int:
    """A port from which ``n`` ports in a row are free on this machine now."""
    for _ in range(50):
        with socket.socket() as probe:
            probe.bind((LOCAL, 0))
            base = probe.getsockname()[1]
        if base + n < 65536 and all(_free(base + i) for i in range(n)):
            return base
    raise TuneDeckError(f"found no {n} free ports in a row on this machine", "close some programs and try again")


def _free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind((LOCAL, port))
        except OSError:
            return False
    return True
