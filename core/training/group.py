"""The group of processes one run trains in (MLX's distributed group).

Under ``mlx.launch`` every process of a run trains the same model on its
share of each global batch, and mlx-lm's trainer averages the gradients
across them. A process started alone is rank 0 of a group of 1 and every
method here is then a no-op that touches nothing, so a one-process run is
what it always was. Rank 0 alone writes (run folder, events, checkpoints);
decisions that change what every rank does next (stop here, save here) are
taken together, or one rank would wait forever in a collective the others
never enter.

Runs on the MLX worker thread only.
"""

from __future__ import annotations

from core.runtime.errors import TuneDeckError

# Imported where used, not at module level (import cost, 2 cores): mlx (runs on the worker)


class Group:
    """This process's place in the run's group: ``rank`` of ``size``."""

    def __init__(self, world=None, rank: int = 0, size: int = 1):
        self.world, self.rank, self.size = world, rank, size

    @property
    def writer(self) -> bool:
        """Rank 0: the one process that writes the run's files and reports."""
        return self.rank == 0

    def _sum(self, values: list[float]) -> list[float]:
        import mlx.core as mx

        total = mx.distributed.all_sum(mx.array(values, dtype=mx.float32), group=self.world, stream=mx.cpu)
        return total.tolist()

    def any(self, *flags: bool) -> list[bool]:
        """Each flag, true on any rank (every rank must call this at the same point)."""
        if self.size == 1:
            return [bool(f) for f in flags]
        return [v > 0 for v in self._sum([1.0 if f else 0.0 for f in flags])]

    def from_writer(self, value: int) -> int:
        """Rank 0's ``value`` on every rank (a small count: exact in float32)."""
        if self.size == 1:
            return value
        return round(self._sum([float(value) if self.writer else 0.0])[0])

    def share_state(self, model, optimizer) -> None:
        """Rank 0's trainable weights and optimizer state on every rank (a
        resumed run: only rank 0's machine holds the checkpoint). A sum in
        which the other ranks put zeros, in each array's own dtype."""
        if self.size == 1:
            return
        import mlx.core as mx
        from mlx.utils import tree_flatten, tree_unflatten

        def shared(tree):
            flat = tree_flatten(tree)
            # Every rank must enter the same sums in the same order, or all wait forever: check first.
            (differs,) = self.any(self.from_writer(len(flat)) != len(flat))
            if differs:
                raise TuneDeckError(
                    "the run's processes hold differently shaped training state; they cannot train together",
                    "give every host the same TuneDeck, mlx and mlx-lm (the pre-flight compares them)",
                )
            out = []
            for name, value in flat:
                mine = value if self.writer else mx.zeros_like(value)
                out.append((name, mx.distributed.all_sum(mine, group=self.world, stream=mx.cpu)))
            mx.eval([v for _, v in out])
            return tree_unflatten(out)

        model.update(shared(model.trainable_parameters()))
        optimizer.init(model.trainable_parameters())  # rank 0's is restored already: init keeps what is there
        optimizer.state = shared(optimizer.state)

    def weights_agree(self, model) -> bool:
        """Whether every rank holds the same trainable weights now: three
        sums of each array, gathered and compared exactly (identical weights
        sum identically; a rank a step ahead or behind does not)."""
        if self.size == 1:
            return True
        import mlx.core as mx
        from mlx.utils import tree_flatten

        sums = []
        for _, value in tree_flatten(model.trainable_parameters()):
            flat = value.astype(mx.float32).reshape(-1)
            sums += [mx.sum(flat), mx.sum(flat * flat), mx.sum(flat * mx.arange(flat.size, dtype=mx.float32))]
        every = mx.distributed.all_gather(mx.stack(sums)[None], group=self.world, stream=mx.cpu)
        return bool(mx.all(every == every[0]).item())

    def describe(self) -> str:
        return f"rank {self.rank} of {self.size}"


def join_group() -> Group:
    """The group this process was launched in (``mlx.launch`` tells MLX
    through the environment); alone: rank 0 of 1, no backend touched."""
    import mlx.core as mx

    if not mx.distributed.is_available():
        return Group()
    world = mx.distributed.init()
    if world.size() == 1:
        return Group()
    return Group(world, world.rank(), world.size())
