"""Length-grouped training batches: pad little, keep mlx-lm's batch format.

mlx-lm 0.32.2's ``iterate_batches`` means to sort examples by length, but on
a ``CacheDataset`` its key is ``itemlen`` = ``len(raw record dict)``, which
is 1 for every row. Batches therefore mix short and long examples and are
padded to the longest (rounded up to 32): on varied data most of each batch
is padding, computed and then masked out of the loss.

``length_grouped_batches`` sorts by *token* length instead, within pools of
64 batches' worth of shuffled examples (ties in random order), cuts batches
of neighbours, and shuffles the order of the batches, each epoch afresh
with its own seeded generator. Each batch is exactly
what mlx-lm yields, ``(tokens[B, L], [[offset, length], ...])`` padded the same
way (to a smaller multiple), so ``trainer.default_loss`` gives the same per-token loss.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

# Imported where used, not at module level (import cost, 2 cores): mlx (runs on the worker), numpy ~0.3 s

MLX_LM_PAD_TO = 32  # mlx-lm's rounding
# Ours: grouped batches are already near one length, so rounding up to 32
# would be most of what is left of the padding; 8 keeps that small while the
# number of distinct shapes (each traced once by mx.compile) stays ~a dozen.
PAD_TO = 8
# Sorting happens within pools of this many batches of shuffled examples: a
# 100k-example dataset is not tokenised up front (mlx-lm tokenises lazily
# too), and pools this big still leave only a few % of padding.
POOL_BATCHES = 64


def padded_length(longest: int, max_seq_length: int, pad_to: int = MLX_LM_PAD_TO) -> int:
    """mlx-lm's rule: one plus the next multiple of ``pad_to``, capped."""
    return min(1 + pad_to * ((longest + pad_to - 1) // pad_to), max_seq_length)


def _tokens(item):
    # A dataset item is a token list, or (tokens, prompt offset) with masking.
    return item if not (isinstance(item, tuple) and len(item) == 2) else item[0]


def token_lengths(dataset) -> list[int]:
    """Token length of every example (tokenises each once; CacheDataset keeps it)."""
    return [len(_tokens(dataset[i])) for i in range(len(dataset))]


class LazyLengths:
    """``lengths[i]`` tokenises example ``i`` only when asked (CacheDataset
    keeps the result), so a big dataset is not tokenised up front."""

    def __init__(self, dataset):
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, i: int) -> int:
        return len(_tokens(self.dataset[i]))


def group_indices(
    lengths: Sequence[int], batch_size: int, rng, pool_batches: int = POOL_BATCHES
) -> Iterator[list[int]]:
    """One epoch of batches of similar length, in shuffled order (lazily:
    a pool's lengths are read when its batches are reached).

    The examples are shuffled; a remainder smaller than a batch is left out of
    this epoch only; the rest is cut into pools of ``pool_batches`` batches.
    Each pool is sorted by length (ties stay in shuffled order), cut into
    batches, and its batches are shuffled."""
    import numpy as np

    order = rng.permutation(len(lengths))
    order = order[: len(order) - len(order) % batch_size]
    pool = batch_size * pool_batches
    for start in range(0, len(order), pool):
        chunk = order[start : start + pool]
        chunk = chunk[np.argsort(np.asarray([lengths[i] for i in chunk]), kind="stable")]
        group = [chunk[i : i + batch_size].tolist() for i in range(0, len(chunk), batch_size)]
        for i in rng.permutation(len(group)):
            yield group[i]


def length_grouped_batches(
    dataset,
    batch_size: int,
    max_seq_length: int,
    loop: bool = False,
    seed: int | None = 0,
    comm_group=None,
    pad_to: int = PAD_TO,
) -> Iterator[tuple]:
    """Drop-in for ``mlx_lm.tuner.trainer.iterate_batches``."""
    import mlx.core as mx
    import numpy as np

    if len(dataset) < batch_size:
        raise ValueError(f"Dataset must have at least batch_size={batch_size} examples but only has {len(dataset)}.")
    offset, step = (comm_group.rank(), comm_group.size()) if comm_group is not None else (0, 1)
    if batch_size % step != 0:
        raise ValueError("The batch size must be divisible by the number of workers")
    lengths = LazyLengths(dataset)
    rng = np.random.default_rng(seed)
    while True:
        for group in group_indices(lengths, batch_size, rng):
            rows = [dataset[j] for j in group[offset::step]]
            pairs = [(r[0], r[1]) if isinstance(r, tuple) and len(r) == 2 else (r, 0) for r in rows]
            width = padded_length(max(len(t) for t, _ in pairs), max_seq_length, pad_to)
            arr = np.zeros((len(pairs), width), np.int32)
            meta = []
            for k, (toks, off) in enumerate(pairs):
                n = min(len(toks), max_seq_length)
                arr[k, :n] = toks[:n]
                meta.append((off, n))
            yield mx.array(arr), mx.array(meta)
        if not loop:
            return


def padding_fraction(
    lengths: Sequence[int], batches: Sequence[Sequence[int]], max_seq_length: int = 2048, pad_to: int = MLX_LM_PAD_TO
) -> float:
    """Share of the token slots in ``batches`` that are padding."""
    real = slots = 0
    for group in batches:
        ls = [min(lengths[i], max_seq_length) for i in group]
        real += sum(ls)
        slots += padded_length(max(ls), max_seq_length, pad_to) * len(ls)
    return 1 - real / slots if slots else 0.0


def mlx_lm_epoch(lengths: Sequence[int], batch_size: int, rng) -> list[list[int]]:
    """The batches mlx-lm 0.32.2 forms for a CacheDataset: input order (its
    sort key is constant), consecutive rows, shuffled batch order."""
    n = len(lengths) - len(lengths) % batch_size
    batches = [list(range(i, i + batch_size)) for i in range(0, n, batch_size)]
    return [batches[i] for i in rng.permutation(len(batches))]
