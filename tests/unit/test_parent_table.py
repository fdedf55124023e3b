"""ParentTable's scans after the first read only the parents that may have changed: new
pids, and pids whose parent has exited (re-parented). Synthetic process tables."""

from __future__ import annotations

from harness.metrics import ParentTable


class _Machine:
    """A process table: ``{pid: ppid}``, and which pids had their parent read."""

    def __init__(self, ppid: dict[int, int]) -> None:
        self.ppid = dict(ppid)
        self.read: list[int] = []

    def pids(self) -> list[int]:
        return sorted(self.ppid)

    def parents(self, pids: list[int]) -> dict[int, int]:
        self.read.extend(pids)
        return {pid: self.ppid[pid] for pid in pids if pid in self.ppid}


def _table(machine: _Machine, full_every: int = 30) -> ParentTable:
    return ParentTable(max_age=0.0, full_every=full_every, pids=machine.pids,
                       parents=machine.parents)


def test_a_new_child_is_found_and_only_new_pids_are_read() -> None:
    machine = _Machine({1: 0, 10: 1, 11: 10, 50: 1})
    table = _table(machine)
    assert table.descendants(10)[0] == [11]
    assert sorted(machine.read) == [1, 10, 11, 50]  # the first scan reads every parent
    machine.read.clear()
    machine.ppid[12] = 10  # a worker forked since
    assert sorted(table.descendants(10)[0]) == [11, 12]
    assert machine.read == [12]


def test_a_child_re_parented_after_its_parent_exits_leaves_the_tree() -> None:
    machine = _Machine({1: 0, 10: 1, 11: 10, 12: 11})
    table = _table(machine)
    assert sorted(table.descendants(10)[0]) == [11, 12]
    del machine.ppid[11]  # 11 exits: the kernel hands 12 to init
    machine.ppid[12] = 1
    machine.read.clear()
    assert table.descendants(10)[0] == []
    assert machine.read == [12]
    assert 12 in table.descendants(1)[0]


def test_every_full_every_th_scan_reads_every_parent() -> None:
    """A pid reused between two scans (same pid, new parent) is seen at the next full scan."""
    machine = _Machine({1: 0, 10: 1, 20: 1})
    table = _table(machine, full_every=3)
    table.descendants(10)
    machine.ppid[20] = 10  # 20 exited and a child of 10 got its pid
    assert table.descendants(10)[0] == []  # scan 2 (incremental): not seen yet
    assert table.descendants(10)[0] == []  # scan 3
    assert table.descendants(10)[0] == [20]  # scan 4 = a full one
    assert table.scans == 4


def test_a_pid_gone_before_its_parent_is_read_is_left_out() -> None:
    machine = _Machine({1: 0, 10: 1})
    table = _table(machine)
    table.descendants(1)
    machine.ppid[11] = 10
    pids = machine.pids
    machine.pids = lambda: [*pids(), 99]  # type: ignore[method-assign]  # listed, then gone
    assert table.descendants(10)[0] == [11]
