"""The seeds of the random streams (robinterp.base.seeds)."""

import pytest

from robinterp.base.seeds import STREAMS, stream_seed


def test_epochs_of_different_seeds_never_share_a_stream():
    """The prime multiplier keeps (seed, epoch) → seed injective for any realistic number of epochs."""
    seeds = {stream_seed(seed, "training_epoch", epoch) for seed in range(20) for epoch in range(1, 1001)}
    assert len(seeds) == 20 * 1000


def test_the_synthesis_streams_of_one_seed_differ():
    """Changing how much one synthesis procedure draws must not change another's draws."""
    names = ["class_seeds", "inversion_noise", "visualisation", "real_data"]
    for seed in range(5):
        assert len({stream_seed(seed, n) for n in names}) == len(names)


def test_an_unknown_purpose_names_the_known_ones():
    with pytest.raises(KeyError, match="training_epoch"):
        stream_seed(0, "trainig_epoch")


def test_every_stream_says_what_it_draws():
    assert all(stream.purpose for stream in STREAMS.values())


def test_replicate_0_trains_from_the_config_seed_and_the_others_from_distinct_far_seeds():
    from robinterp.base.seeds import replicate_seeds

    assert replicate_seeds(0, 1) == [0] and replicate_seeds(7, 3)[0] == 7
    seeds = {s for seed in range(20) for s in replicate_seeds(seed, 5)}
    assert len(seeds) == 20 * 5  # no two (config seed, replicate) share a training seed
    # the other replicates stay clear of small seeds, such as the judge's (seed 1 in the demo)
    assert all(s >= 1000 for seed in range(20) for s in replicate_seeds(seed, 5)[1:])
    with pytest.raises(ValueError):
        replicate_seeds(0, 0)
