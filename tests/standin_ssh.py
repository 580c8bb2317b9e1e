"""A stand-in for ssh, first on PATH: every host "logs in" by running the
command on this machine, so a run across Macs and its pre-flight (TuneDeck's
and mlx.launch's own ssh calls alike) can be tried here. A host in ``deny``
refuses as an ssh without a key does; ``env`` is set in what the others run."""

from __future__ import annotations

import os
import shlex
from pathlib import Path

SCRIPT = """#!/bin/bash
while [ $# -gt 0 ]; do
  case "$1" in
    -o|-p|-i|-l|-F) shift 2 ;;
    -*) shift ;;
    *) break ;;
  esac
done
host="$1"; shift
case " {deny} " in
  *" $host "*) echo "$host: Permission denied (publickey,password)." >&2; exit 255 ;;
esac
exec env {env} /bin/bash -c "$*"
"""


def install(bin_dir: Path, monkeypatch, deny: tuple[str, ...] = (), env: dict | None = None) -> Path:
    bin_dir.mkdir(parents=True, exist_ok=True)
    tool = bin_dir / "ssh"
    assignments = " ".join(shlex.quote(f"{k}={v}") for k, v in (env or {}).items())
    tool.write_text(SCRIPT.replace("{deny}", " ".join(deny)).replace("{env}", assignments))
    tool.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    return tool


def two_macs(folder: Path) -> Path:
    """mlx.launch's hostfile for this machine and "mac2", reached over ssh
    (the stand-in) but at this machine's loopback address: the ring gives
    each host its own port."""
    hostfile = folder / "hosts.json"
    hostfile.write_text(
        '{"backend": "ring", "hosts": [{"ssh": "localhost", "ips": ["127.0.0.1"]}, '
        '{"ssh": "mac2", "ips": ["127.0.0.1"]}]}'
    )
    return hostfile
