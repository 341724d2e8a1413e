"""The harness's waits are bounded: a client call that never returns is
reported with where it is stuck and left behind, and a run past its
deadline prints every thread's stack and ends instead of hanging.
Run: cd scripts && python -m unittest faultlib.test_bounded
"""

import json
import os
import subprocess
import sys
import tempfile
import threading
import unittest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from faultlib.bounded import bounded, join_all  # noqa: E402
from faultlib.workload import History, close_confluent_producer  # noqa: E402

# Generous: only a broken bound makes a test wait this long.
LIMIT_S = 60


def blocked_in_close(forever):
    forever.wait()


class BoundedTest(unittest.TestCase):
    def setUp(self):
        self.forever = threading.Event()

    def tearDown(self):
        self.forever.set()

    def test_a_call_that_returns_is_done(self):
        self.assertTrue(bounded("quick", lambda: None, LIMIT_S))

    def test_a_call_that_never_returns_is_reported_with_its_stack(self):
        stuck = []
        done = bounded("close", lambda: blocked_in_close(self.forever), 0.2,
                       lambda what, stack: stuck.append((what, stack)))
        self.assertFalse(done)
        self.assertEqual(stuck[0][0], "close")
        self.assertIn("blocked_in_close", stuck[0][1])

    def test_join_all_names_the_threads_still_running(self):
        quick = threading.Thread(target=lambda: None, name="quick", daemon=True)
        slow = threading.Thread(target=blocked_in_close, args=(self.forever,), name="slow",
                                daemon=True)
        quick.start()
        slow.start()
        self.assertEqual(join_all([quick, slow], 0.2), ["slow"])

    def test_a_producer_whose_close_hangs_leaves_a_complete_history(self):
        forever = self.forever

        class Producer:
            """Flush leaves records behind, close never returns: the
            librdkafka shutdown that once hung a run."""
            purged = False

            def flush(self, timeout):
                return 0 if self.purged else 3

            def purge(self):
                self.purged = True

            def close(self):
                blocked_in_close(forever)

        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "h.jsonl")
            h = History(path)
            producer = Producer()
            close_confluent_producer(h, "p0", producer, close_timeout=0.2)
            h.close()
            with open(path) as f:
                events = [json.loads(line) for line in f]
        self.assertTrue(producer.purged, "what flush left was purged")
        self.assertEqual([e["type"] for e in events], ["client_error", "client_stuck"])
        self.assertIn("3 records unacknowledged", events[0]["error"])
        self.assertIn("blocked_in_close", events[1]["stack"])

    def test_a_run_past_its_watchdog_dumps_stacks_cleans_up_and_exits(self):
        here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        code = (
            "import threading\n"
            "from faultlib.bounded import Watchdog\n"
            "def stuck_in_shutdown():\n"
            "    threading.Event().wait()\n"
            "Watchdog('the test run', 0.2, code=3, before_exit=lambda: print('cleaned up',"
            " flush=True))\n"
            "stuck_in_shutdown()\n")
        r = subprocess.run([sys.executable, "-c", code], cwd=here, capture_output=True,
                           text=True, timeout=LIMIT_S)
        self.assertEqual(r.returncode, 3, r.stderr)
        self.assertIn("watchdog: the test run still running", r.stderr)
        self.assertIn("stuck_in_shutdown", r.stderr, "the main thread's stack is printed")
        self.assertIn("cleaned up", r.stdout)


if __name__ == "__main__":
    unittest.main()
