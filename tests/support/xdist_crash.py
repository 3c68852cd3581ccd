"""A test run that survives a native crash of a pytest-xdist worker: the file-grouped scheduler without its deadlocks,
and the crashed test run once more.

Why: liblsl (pylsl 1.18.6, the newest wheel) rarely segfaults while it destroys a stream outlet that an inlet is
reading (sccn/liblsl#218: ``~factory`` walks a sample free list that a sending thread still touches); the tests
destroy outlets on purpose (a source that vanishes and comes back). Seen twice in some sixty full runs here (session
16; session 19: ``test_reconnect_keeps_unit_warning`` at ``del outlet``). Two things then went wrong beyond the one
test:

* pytest-xdist 3.8.0's ``--dist loadfile`` scheduler deadlocks after a worker crash (pytest-dev/pytest-xdist#784,
  #1327, #1378: the crashed worker's *completed* files go back on the queue as empty work units, and a worker holding
  one test waits for a second one that never comes): the whole run hung with idle workers, so CI would time out
  instead of reporting. :class:`CrashSafeLoadFileScheduling` (given to xdist by ``pytest_xdist_make_scheduler`` in
  ``tests/conftest.py``) puts back only the work that was not done, the crashed file first, and gives a worker
  tests until it holds two (a worker runs a test once it has the next one) or the queue is empty, then shuts it down;
* the crashed test counts as failed though it never ran to an end. :func:`rerun_once` makes its first crash a
  ``rerun`` (the crashed file goes back on the queue with that test still pending, so the new worker runs it again)
  and says so in the summary; a second crash of the same test is a failure, and that test is not run a third time.
  Only a worker's crash is rerun: a test that fails is a failure, as always.
"""

from __future__ import annotations

from typing import Any

from xdist.scheduler.loadfile import LoadFileScheduling

#: The report outcome of a test whose worker crashed the first time (counted, shown, not a failure).
RERUN = "rerun"


class CrashSafeLoadFileScheduling(LoadFileScheduling):
    """``--dist loadfile`` (tests of one file in one worker, module fixtures built once) without the deadlocks
    after a worker crash (see the module docstring); :attr:`crashes` counts the crashes of each test."""

    def __init__(self, config: Any, log: Any = None) -> None:
        super().__init__(config, log)
        self.crashes: dict[str, int] = {}

    def remove_node(self, node: Any) -> str | None:
        """Forget ``node``; after a crash, put its unfinished files back at the front of the queue (the crashed test
        still pending after its first crash, so it runs again; done after its second) and return its id."""
        workload = self.assigned_work.pop(node)
        if not self._pending_of(workload):
            return None
        scope, crashitem = next((scope, nodeid) for scope, unit in workload.items() for nodeid, done in unit.items()
                                if not done)
        self.crashes[crashitem] = self.crashes.get(crashitem, 0) + 1
        if self.crashes[crashitem] > 1:
            workload[scope][crashitem] = True  # crashed twice: a failure, not run a third time
        for scope, unit in reversed(list(workload.items())):
            if not all(unit.values()):  # a file this worker finished is not queued again (xdist#1378)
                self.workqueue[scope] = unit
                self.workqueue.move_to_end(scope, last=False)
        for other in self.assigned_work:
            self._reschedule(other)
        return crashitem

    def _reschedule(self, node: Any) -> None:
        """Give ``node`` more files when it holds two tests or fewer, until it holds two (xdist#1327), or shut it
        down when none are left."""
        if node.shutting_down:
            return
        if not self.workqueue:
            node.shutdown()
            return
        if self._pending_of(self.assigned_work[node]) > 2:
            return
        self._assign_work_unit(node)
        while self._pending_of(self.assigned_work[node]) < 2:
            if not self.workqueue:
                node.shutdown()
                return
            self._assign_work_unit(node)


def rerun_once(crashitem: str, report: Any, sched: Any) -> None:
    """xdist's ``pytest_handlecrashitem``: the first crash of ``crashitem`` under
    :class:`CrashSafeLoadFileScheduling` is a ``rerun`` (its file was queued again with it pending); a second is a
    failure (it is not run a third time). Under another scheduler the crash stays a failure."""
    if getattr(sched, "crashes", {}).get(crashitem) == 1:
        report.outcome = RERUN
        report.longrepr = f"{report.longrepr}: run once more (a worker's native crash; tests/support/xdist_crash.py)"
