"""Raw ``mlx_lm.lora``, untouched, plus one line at exit: MLX's peak memory.

mlx-lm prints no peak memory for training; the bench needs it for the
memory ratio. The trainer itself is mlx-lm's own ``main`` run as __main__.
"""

import atexit
import runpy
import sys


def _peak() -> None:
    import mlx.core as mx

    print(f"BENCH_PEAK {mx.get_peak_memory()}", flush=True)


atexit.register(_peak)
sys.argv = ["mlx_lm.lora", *sys.argv[1:]]
runpy.run_module("mlx_lm.lora", run_name="__main__")
