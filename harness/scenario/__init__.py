"""Scenario files: the typed model, its parser, and the deployment settings beside it."""

from harness.scenario._deploy import (
    HOST_PORT,
    AttachLocust,
    AttachSettings,
    ComposeSettings,
    ContainerFault,
    attach_problems,
    split_host_port,
)
from harness.scenario._faults import (
    FAULT_TYPES,
    KILL_SIGNALS,
    NETWORK_FAULT_TYPES,
    POD_FAULT_TYPES,
    TOXIC_ATTRIBUTES,
    Fault,
    NetworkFault,
    PodFault,
)
from harness.scenario._model import (
    RESERVED_TARGETS,
    Health,
    KubeRef,
    Load,
    Phase,
    Proxy,
    Scenario,
    Target,
)
from harness.scenario._parse import (
    SCENARIO_DIRS,
    apply_set,
    load_scenario,
    read_capped,
    resolve_path,
    scenario_from_dict,
)
from harness.scenario._paths import locustfile_is_path, path_problems, resolve_paths
from harness.scenario._thresholds import LATENCY_KEY, RATE_KEY, Threshold, is_latency_key
from harness.scenario._types import format_duration, parse_duration, parse_fraction
from harness.scenario._yaml import YamlLimitError, load_yaml

__all__ = [
    "FAULT_TYPES",
    "HOST_PORT",
    "KILL_SIGNALS",
    "LATENCY_KEY",
    "NETWORK_FAULT_TYPES",
    "POD_FAULT_TYPES",
    "RATE_KEY",
    "RESERVED_TARGETS",
    "SCENARIO_DIRS",
    "TOXIC_ATTRIBUTES",
    "AttachLocust",
    "AttachSettings",
    "ComposeSettings",
    "ContainerFault",
    "Fault",
    "Health",
    "KubeRef",
    "Load",
    "NetworkFault",
    "Phase",
    "PodFault",
    "Proxy",
    "Scenario",
    "Target",
    "Threshold",
    "YamlLimitError",
    "apply_set",
    "attach_problems",
    "format_duration",
    "is_latency_key",
    "load_scenario",
    "load_yaml",
    "locustfile_is_path",
    "parse_duration",
    "parse_fraction",
    "path_problems",
    "read_capped",
    "resolve_path",
    "resolve_paths",
    "scenario_from_dict",
    "split_host_port",
]
