from __future__ import annotations

import pytest

from trainer.sampling import epoch_batches, sample_keys, steps_per_epoch


def test_order_depends_only_on_seed_and_epoch() -> None:
    assert epoch_batches(50, 4, seed=1, epoch=2) == epoch_batches(50, 4, seed=1, epoch=2)
    assert epoch_batches(50, 4, seed=1, epoch=2) != epoch_batches(50, 4, seed=1, epoch=3)


def test_ranks_get_disjoint_shards_of_equal_length() -> None:
    shards = [epoch_batches(50, 4, seed=0, epoch=0, rank=r, world_size=3) for r in range(3)]
    assert {len(s) for s in shards} == {steps_per_epoch(50, 4, 3)} == {4}
    seen = [i for shard in shards for batch in shard for i in batch]
    assert len(seen) == len(set(seen)) == 48


def test_too_few_images_is_explained() -> None:
    with pytest.raises(ValueError, match="batch-size"):
        epoch_batches(3, 4, seed=0, epoch=0)


def test_composites_are_drawn_in_whole_passes_each_made_anew() -> None:
    keys = sample_keys(4, 10, seed=1)
    assert len(keys) == 10 and keys == sample_keys(4, 10, seed=1)
    assert sorted(i for epoch, i in keys if epoch == 0) == [0, 1, 2, 3]
    assert [epoch for epoch, _ in keys] == [0] * 4 + [1] * 4 + [2] * 2
