"""Sampling: metric sources per target and the 1 Hz sampler."""

from harness.metrics._tcp import (
    count_states,
    diag_tcp_states,
    parse_sock_diag,
    parse_tcp_table,
    read_proc_tcp_states,
)
from harness.metrics._tree import ParentTable, ProcessTree
from harness.metrics.sampler import Sampler, next_tick
from harness.metrics.sources import ProcSource, evidence_source, make_source

__all__ = [
    "ParentTable",
    "ProcSource",
    "ProcessTree",
    "Sampler",
    "count_states",
    "diag_tcp_states",
    "evidence_source",
    "make_source",
    "next_tick",
    "parse_sock_diag",
    "parse_tcp_table",
    "read_proc_tcp_states",
]
