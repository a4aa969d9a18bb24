"""The collector's policy: tuned for every command, start-up garbage collected before
the start-up heap is frozen (in a process of its own: freezing is for the whole process)."""

from __future__ import annotations

import subprocess
import sys

from gateway.gc_policy import YOUNG


def _python(code: str) -> str:
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


def test_every_command_runs_with_the_gateways_thresholds():
    out = _python("import gc, contextlib, io\n"
                  "from gateway.cli import main\n"
                  "with contextlib.redirect_stdout(io.StringIO()):\n"
                  "    main([])\n"
                  "print(gc.get_threshold()[0])")
    assert int(out) == YOUNG


def test_settling_collects_start_up_garbage_and_freezes_what_is_kept():
    out = _python("import gc, weakref\n"
                  "from gateway.gc_policy import settle\n"
                  "class Node: pass\n"
                  "kept = Node()\n"
                  "garbage = Node(); garbage.me = garbage  # a cycle only the collector frees\n"
                  "gone = weakref.ref(garbage); del garbage\n"
                  "gc.disable()  # nothing collects it before settle does\n"
                  "settle()\n"
                  "print(gone() is None, gc.get_freeze_count() > 0,"
                  " any(o is kept for o in gc.get_objects()))")
    # the cycle was collected; what start-up kept is frozen, out of every generation
    assert out == "True True False"
