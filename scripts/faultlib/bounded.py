"""Every wait of a run has a bound, and a wait that runs past it says where
it was stuck instead of hanging the run.

Client libraries can block in their shutdown (librdkafka's close and
destroy wait for their broker threads, a consumer's close for its group
to be left) when a broker is gone or a request never answers. The
workload calls each such close through `bounded`, joins its threads
through `join_all`, and runs under a `Watchdog` that prints every thread's
stack and ends the process once its own deadline has passed; the harness
does the same around each scenario.
"""

import faulthandler
import os
import signal
import sys
import threading
import time
import traceback


def stack_of(thread):
    """The current stack of `thread` (a threading.Thread), as text."""
    frame = sys._current_frames().get(thread.ident)
    if frame is None:
        return "    (no stack: the thread has ended)\n"
    return "".join(traceback.format_stack(frame))


def say(msg):
    print(msg, file=sys.stderr, flush=True)


def bounded(what, fn, timeout, on_stuck=None):
    """Runs `fn()` in a daemon thread and waits at most `timeout` seconds:
    True when it returned (or raised: the error is printed), False when it
    is still running, after printing where it is stuck and calling
    `on_stuck(what, stack)`. A stuck call is left behind: the daemon
    thread does not keep the process alive."""
    done = threading.Event()

    def run():
        try:
            fn()
        except Exception as e:  # noqa: BLE001 - a failed close is reported, not fatal
            say(f"{what} failed: {e!r}")
        finally:
            done.set()

    t = threading.Thread(target=run, name=what, daemon=True)
    t.start()
    if done.wait(timeout):
        return True
    stack = stack_of(t)
    say(f"{what} did not return within {timeout:g}s; left running, stuck at:\n{stack}")
    if on_stuck is not None:
        on_stuck(what, stack)
    return False


def join_all(threads, timeout, on_stuck=None):
    """Joins `threads` against one deadline `timeout` seconds away; the
    names of those still running, each reported as `bounded` does."""
    deadline = time.monotonic() + timeout
    for t in threads:
        t.join(max(0.0, deadline - time.monotonic()))
    stuck = [t for t in threads if t.is_alive()]
    for t in stuck:
        stack = stack_of(t)
        say(f"thread {t.name} still running {timeout:g}s after it was told to stop; "
            f"stuck at:\n{stack}")
        if on_stuck is not None:
            on_stuck(t.name, stack)
    return [t.name for t in stuck]


class Watchdog:
    """Ends the process `seconds` from now unless cancelled: prints `what`
    and every thread's stack to stderr, then runs `before_exit` (bounded
    cleanup, e.g. stopping child processes) and exits with `code`.

    `os._exit`, not `sys.exit`: a thread stuck in a C library call cannot
    be unwound, and interpreter shutdown would wait for it."""

    def __init__(self, what, seconds, code=3, before_exit=None):
        self.what, self.seconds, self.code, self.before_exit = what, seconds, code, before_exit
        self.cancelled = threading.Event()
        self.thread = threading.Thread(target=self._run, name=f"watchdog {what}", daemon=True)
        self.thread.start()

    def _run(self):
        if self.cancelled.wait(self.seconds):
            return
        say(f"watchdog: {self.what} still running after {self.seconds:g}s; "
            f"stacks of every thread follow, then exit {self.code}")
        faulthandler.dump_traceback(file=sys.stderr, all_threads=True)
        if self.before_exit is not None:
            bounded("watchdog cleanup", self.before_exit, 60)
        sys.stderr.flush()
        os._exit(self.code)

    def cancel(self):
        self.cancelled.set()


def dump_stacks_on_sigusr1():
    """`kill -USR1 PID` prints every thread's stack of a run that seems
    stuck, without stopping it."""
    faulthandler.register(signal.SIGUSR1, file=sys.stderr, all_threads=True)
