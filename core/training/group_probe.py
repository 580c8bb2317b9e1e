"""A short all-reduce through the chosen backend, timed (the pre-flight of
a group run: ``core.training.group_doctor`` starts it under mlx.launch).

``python -m core.training.group_probe MEGABYTES`` sums a float32 array of
that size across the group a few times; rank 0 prints one JSON line: the
group's size, the bytes summed and the bandwidth a ring all-reduce
achieved (each byte crosses the ring about twice).
"""

from __future__ import annotations

import json
import sys
import time

PROBE_MARK = "tunedeck-probe "
ROUNDS = 5


def main(argv: list[str] | None = None) -> int:
    import mlx.core as mx

    megabytes = float((argv if argv is not None else sys.argv[1:])[0])
    world = mx.distributed.init()
    data = mx.ones((int(megabytes * 1e6 / 4),), dtype=mx.float32)
    mx.eval(mx.distributed.all_sum(data[:1024], stream=mx.cpu))  # connect and warm up first
    best = float("inf")
    for _ in range(ROUNDS):
        started = time.perf_counter()
        total = mx.distributed.all_sum(data, stream=mx.cpu)
        mx.eval(total)
        best = min(best, time.perf_counter() - started)
    if total[0].item() != world.size():
        print(f"the all-reduce summed wrongly: {total[0].item()} for {world.size()} processes", flush=True)
        return 1
    if world.rank() == 0:
        size = data.nbytes
        # A ring all-reduce sends 2 (n-1)/n of the array from each process.
        moved = 2 * (world.size() - 1) / world.size() * size
        report = {"processes": world.size(), "bytes": size, "seconds": best, "gbps": moved * 8 / best / 1e9}
        print(PROBE_MARK + json.dumps(report), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
