"""``tunedeck doctor``: what will and won't work on this machine."""

from __future__ import annotations

import json

# core's fix names no interface; this is how the CLI switches the endpoint.
HUB_SWITCH = " (set HF_ENDPOINT, or pass --endpoint to the hub commands)"


def register(sub) -> None:
    p = sub.add_parser("doctor", help="check this machine (exit 0 when ready to train)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--offline", action="store_true", help="skip the Hugging Face reachability check")
    p.add_argument("--model", metavar="DIR", help="also check memory and disk for training this model folder")
    g = p.add_argument_group("before a run on several Macs (docs/multi-mac.md)")
    g.add_argument("--hostfile", metavar="FILE", help="check these hosts (mlx.launch's hostfile) and an all-reduce")
    g.add_argument("--hosts", metavar="IP,IP", help="check these hosts and an all-reduce")
    g.add_argument("--processes", type=int, metavar="N", help="processes per host (on one machine: N processes)")
    g.add_argument("--backend", choices=["ring", "mpi", "jaccl"], help="mlx.launch's backend (default ring)")
    g.add_argument("--data", metavar="DIR", help="with --hostfile/--hosts: a data folder every host needs")
    p.set_defaults(func=run)


def run(args) -> int:
    from core.runtime.doctor import as_json, ready, run_checks
    from core.training.group_launch import group_spec

    # The screens call this with only the flags they have.
    flags = [getattr(args, name, None) for name in ("processes", "hosts", "hostfile", "backend")]
    group = group_spec(*flags)
    checks = run_checks(network=not args.offline, model_path=args.model)
    if group is not None:
        from core.training.group_doctor import check_hosts

        print(f"checking {group.describe()}…", flush=True)
        checks += check_hosts(group, [args.model, getattr(args, "data", None)])
    if args.json:
        print(json.dumps(as_json(checks), indent=2))
    else:
        marks = {"pass": "ok  ", "warn": "warn", "fail": "FAIL"}
        for c in checks:
            print(f"[{marks[c.status]}] {c.name}: {c.detail}")
            if c.fix and c.status != "pass":
                print(f"       fix: {c.fix}" + (HUB_SWITCH if c.id == "hub" else ""))
        print("ready to train" if ready(checks) else "NOT ready to train: fix the FAIL lines")
    return 0 if ready(checks) else 1
