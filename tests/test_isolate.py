"""soundkit.isolate.run_in_child: a real spawned process, its events, result, errors and death."""

from __future__ import annotations

import os

import pytest

from soundkit.errors import ModelError, ParameterError
from soundkit.isolate import run_in_child


def count_to(n, *, emit, should_stop):
    for i in range(n):
        emit(stage="count", done=i + 1, pid=os.getpid())
    return {"pid": os.getpid(), "n": n}


def fail(message, *, emit, should_stop):
    raise ParameterError(message)


def unpicklable_error(*, emit, should_stop):
    class Local(Exception):  # defined inside: cannot be pickled back
        pass

    raise Local("no way home")


def die(*, emit, should_stop):
    emit(stage="about to die")
    os._exit(3)


def wait_for_stop(*, emit, should_stop):
    import time

    emit(stage="waiting")
    for _ in range(600):
        if should_stop():
            return "stopped"
        time.sleep(0.05)
    return "never stopped"


def test_result_and_events_come_back_from_another_process():
    events = []
    out = run_in_child(count_to, 3, what="count", emit=lambda **e: events.append(e), should_stop=None)
    assert out["n"] == 3 and out["pid"] != os.getpid()
    assert [e["done"] for e in events] == [1, 2, 3] and {e["pid"] for e in events} == {out["pid"]}


def test_errors_come_back_as_themselves_or_as_one_line():
    with pytest.raises(ParameterError, match="bad value 7"):
        run_in_child(fail, "bad value 7", what="x", emit=lambda **e: None, should_stop=None)
    with pytest.raises(ModelError, match="Local: no way home"):
        run_in_child(unpicklable_error, what="x", emit=lambda **e: None, should_stop=None)


def test_a_dead_child_is_a_model_error_naming_its_exit_code():
    with pytest.raises(ModelError, match="the training process ended with exit code 3"):
        run_in_child(die, what="training", emit=lambda **e: None, should_stop=None)


def test_should_stop_reaches_the_child():
    seen = []
    out = run_in_child(wait_for_stop, what="x", emit=lambda **e: seen.append(e), should_stop=lambda: bool(seen))
    assert out == "stopped"
