"""Scenario files: the typed model and its loader."""

from harness.scenario._faults import FAULT_TYPES, TOXIC_ATTRIBUTES, Fault
from harness.scenario._load import apply_set, load_scenario, resolve_path, scenario_from_dict
from harness.scenario._model import Health, Load, Phase, Proxy, Scenario, Target
from harness.scenario._paths import locustfile_is_path, path_problems, resolve_paths
from harness.scenario._thresholds import Threshold, is_latency_key
from harness.scenario._types import format_duration, parse_duration, parse_fraction

__all__ = [
    "FAULT_TYPES",
    "TOXIC_ATTRIBUTES",
    "Fault",
    "Health",
    "Load",
    "Phase",
    "Proxy",
    "Scenario",
    "Target",
    "Threshold",
    "apply_set",
    "format_duration",
    "is_latency_key",
    "load_scenario",
    "locustfile_is_path",
    "parse_duration",
    "parse_fraction",
    "path_problems",
    "resolve_path",
    "resolve_paths",
    "scenario_from_dict",
]
