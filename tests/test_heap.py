"""frozen_heap: the collector skips what existed before a run, and gets it back after."""

from __future__ import annotations

import gc
import threading

from flows.heap import frozen_heap, refreeze


class _Node:
    def __init__(self) -> None:
        self.me = self   # a cycle: only the collector can free it


def test_objects_from_before_the_block_are_frozen_and_handed_back_after() -> None:
    before = _Node()
    with frozen_heap():
        assert gc.get_freeze_count() > 0
        during = _Node()
        tracked = {id(o) for o in gc.get_objects()}   # frozen objects are not listed
        assert id(during) in tracked and id(before) not in tracked
    assert gc.get_freeze_count() == 0
    assert any(o is before for o in gc.get_objects())


def test_garbage_from_before_the_block_is_collected_once_it_ends() -> None:
    freed = threading.Event()

    class Watched(_Node):
        def __del__(self) -> None:
            freed.set()

    gc.disable()   # no automatic collection may free it before the block begins
    try:
        Watched()   # unreachable at once, but a cycle: waits for a collection
        with frozen_heap():
            gc.collect()
            assert not freed.is_set()   # frozen: no collection looks at it
        gc.collect()
        assert freed.is_set()
    finally:
        gc.enable()


def test_nested_blocks_unfreeze_when_the_outer_one_ends() -> None:
    with frozen_heap():
        with frozen_heap():
            pass
        assert gc.get_freeze_count() > 0
    assert gc.get_freeze_count() == 0


def test_refreeze_parks_what_a_run_loaded_and_only_inside_a_block() -> None:
    refreeze()   # outside a block: nothing is frozen for good
    assert gc.get_freeze_count() == 0
    with frozen_heap():
        loaded = _Node()   # e.g. language profiles, loaded at the run's first page
        refreeze()
        assert all(o is not loaded for o in gc.get_objects())
    assert gc.get_freeze_count() == 0
    assert any(o is loaded for o in gc.get_objects())
