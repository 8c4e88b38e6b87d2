"""The BuildRun controller's bookkeeping of status writes: serialized per BuildRun, a finished one
stays finished, bounded in size."""

from __future__ import annotations

import threading
import time

from kiln.controllers.buildrun import _Runs


def test_writes_for_one_buildrun_are_serialized_and_others_run_alongside() -> None:
    runs = _Runs()
    order: list[str] = []

    def write(uid: str, tag: str, hold: float) -> None:
        with runs.lock(uid):
            order.append(f"{tag}+")
            time.sleep(hold)
            order.append(f"{tag}-")

    first = threading.Thread(target=write, args=("a", "a1", 0.2))
    first.start()
    time.sleep(0.05)
    second = threading.Thread(target=write, args=("a", "a2", 0))
    other = threading.Thread(target=write, args=("b", "b1", 0))
    second.start()
    other.start()
    for t in (first, second, other):
        t.join()
    assert order.index("a1-") < order.index("a2+")  # the same BuildRun waits its turn
    assert order.index("b1-") < order.index("a1-")  # another one does not


def test_a_finished_buildrun_is_remembered_until_it_falls_out_of_the_window() -> None:
    runs = _Runs(size=2)
    with runs.lock("a"):
        runs.finish("a")
    assert runs.finished("a") and not runs.finished("b")
    for uid in ("b", "c"):
        with runs.lock(uid):
            pass
    assert not runs.finished("a")  # the oldest went: memory stays bounded
