"""The collector pause: intermediates are freed before the collector resumes."""

from __future__ import annotations

import gc
import weakref

import pytest

from pt2canon._gc import gc_paused


class _Blob:
    """Weak-referenceable stand-in for a large intermediate structure."""


def test_locals_are_freed_while_the_collector_is_still_paused_and_it_resumes_after() -> None:
    seen: list[bool] = []

    @gc_paused
    def work() -> str:
        blob = _Blob()
        weakref.finalize(blob, lambda: seen.append(gc.isenabled()))
        assert not gc.isenabled()
        return "result"

    assert gc.isenabled()
    assert work() == "result"
    assert seen == [False]  # freed before the collector came back
    assert gc.isenabled()


def test_a_nested_pause_leaves_resuming_to_the_outermost_and_an_error_still_resumes() -> None:
    @gc_paused
    def inner() -> bool:
        return gc.isenabled()

    @gc_paused
    def outer() -> tuple[bool, bool]:
        return inner(), gc.isenabled()

    @gc_paused
    def fails() -> None:
        raise ValueError("boom")

    assert outer() == (False, False)
    with pytest.raises(ValueError, match="boom"):
        fails()
    assert gc.isenabled()


def test_a_collector_disabled_by_the_caller_stays_disabled() -> None:
    gc.disable()
    try:
        gc_paused(lambda: None)()
        assert not gc.isenabled()
    finally:
        gc.enable()
