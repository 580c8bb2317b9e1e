"""The length-grouped batcher: complete epochs, homogeneous batches, mlx-lm's format."""

import numpy as np
import pytest

from core.training.batching import (
    POOL_BATCHES,
    group_indices,
    length_grouped_batches,
    mlx_lm_epoch,
    padded_length,
    padding_fraction,
    token_lengths,
)


def varied_dataset(n=96, seed=1):
    """Token lists of widely varied length; token value = example id + 1,
    so every row of a batch says which example it is."""
    rng = np.random.default_rng(seed)
    lengths = rng.integers(5, 300, size=n)
    return [[i + 1] * int(length) for i, length in enumerate(lengths)]


def ids_in(batch):
    tokens, meta = batch
    tokens, meta = np.array(tokens), np.array(meta)
    return [int(tokens[r, 0]) - 1 for r in range(tokens.shape[0])], tokens, meta


def epoch(data, batch_size=8, seed=0, **kw):
    return [ids_in(b) for b in length_grouped_batches(data, batch_size, 2048, loop=False, seed=seed, **kw)]


def test_every_example_exactly_once_per_epoch():
    data = varied_dataset()
    seen = [i for ids, _, _ in epoch(data) for i in ids]
    assert sorted(seen) == list(range(len(data)))


def test_remainder_left_out_without_repeats():
    data = varied_dataset(n=99)
    seen = [i for ids, _, _ in epoch(data) for i in ids]
    assert len(seen) == 96 and len(set(seen)) == 96


def test_batches_are_in_mlx_lm_format_and_contents():
    data = varied_dataset()
    for ids, tokens, meta in epoch(data):
        assert tokens.dtype == np.int32 and tokens.shape[0] == 8
        longest = max(len(data[i]) for i in ids)
        assert tokens.shape[1] == padded_length(longest, 2048, 8)
        for row, i in enumerate(ids):
            n = len(data[i])
            assert meta[row].tolist() == [0, n]
            assert (tokens[row, :n] == i + 1).all() and (tokens[row, n:] == 0).all()


def test_prompt_offsets_are_passed_through():
    data = [([7] * (10 + i), 3) for i in range(8)]
    ((_, tokens, meta),) = epoch(data, batch_size=8)
    assert sorted(meta[:, 0].tolist()) == [3] * 8
    assert sorted(meta[:, 1].tolist()) == list(range(10, 18))


def test_batches_are_length_homogeneous():
    data = varied_dataset()
    lengths = token_lengths(data)
    spreads = [max(lengths[i] for i in ids) - min(lengths[i] for i in ids) for ids, _, _ in epoch(data)]
    mlx_spreads = [
        max(lengths[i] for i in b) - min(lengths[i] for i in b)
        for b in mlx_lm_epoch(lengths, 8, np.random.default_rng(0))
    ]
    assert max(spreads) < np.median(mlx_spreads)
    # sorted neighbours: no other example fits between a batch's shortest and longest
    for ids, _, _ in epoch(data):
        lo, hi = min(lengths[i] for i in ids), max(lengths[i] for i in ids)
        inside = [j for j, n in enumerate(lengths) if lo < n < hi]
        assert set(inside) <= set(ids)


def test_shuffled_across_batches_and_deterministic_per_seed():
    data = varied_dataset()
    first = [ids for ids, _, _ in epoch(data, seed=3)]
    again = [ids for ids, _, _ in epoch(data, seed=3)]
    other = [ids for ids, _, _ in epoch(data, seed=4)]
    assert first == again
    assert first != other
    shortest = [min(len(data[i]) for i in ids) for ids in first]
    assert shortest != sorted(shortest)  # not served short-to-long


def test_epochs_differ_when_looping():
    data = varied_dataset(n=32)
    it = length_grouped_batches(data, 8, 2048, loop=True, seed=0)
    orders = [[ids_in(next(it))[0] for _ in range(4)] for _ in range(3)]
    assert orders[0] != orders[1] or orders[1] != orders[2]
    for order in orders:  # each epoch is complete
        assert sorted(i for ids in order for i in ids) == list(range(32))


def test_less_padding_than_mlx_lm_on_varied_data():
    lengths = token_lengths(varied_dataset(n=400))
    ours = padding_fraction(lengths, group_indices(lengths, 8, np.random.default_rng(0)), pad_to=8)
    theirs = padding_fraction(lengths, mlx_lm_epoch(lengths, 8, np.random.default_rng(0)))
    assert ours < 0.05 < 0.3 < theirs


def test_truncates_to_max_seq_length():
    data = varied_dataset(n=16)
    for b in length_grouped_batches(data, 4, 64, seed=0):
        _, tokens, meta = ids_in(b)
        assert tokens.shape[1] <= 64 and meta[:, 1].max() <= 64


def test_too_small_dataset_is_refused():
    with pytest.raises(ValueError, match="at least batch_size"):
        next(length_grouped_batches([[1, 2]], 4, 2048))


class CountingDataset:
    """Tokenises on access, like CacheDataset's first touch; counts touches."""

    def __init__(self, n):
        self.rows = varied_dataset(n)
        self.touched = set()

    def __len__(self):
        return len(self.rows)

    def __getitem__(self, i):
        self.touched.add(i)
        return self.rows[i]


def test_a_big_dataset_is_not_tokenised_up_front():
    data = CountingDataset(20_000)
    batches = length_grouped_batches(data, 4, 2048, loop=True, seed=0)
    next(batches)
    assert len(data.touched) <= 4 * POOL_BATCHES
