"""The chart's values.schema.json against its own values: the defaults and every ci/*.yaml
(merged onto the defaults as Helm does) validate; bad values are refused naming the value;
every value is listed in the chart's README."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

CHART = Path(__file__).resolve().parents[2] / "charts" / "soak-harness"
SCHEMA = json.loads((CHART / "values.schema.json").read_text(encoding="utf-8"))
DEFAULTS = yaml.safe_load((CHART / "values.yaml").read_text(encoding="utf-8"))
CI_FILES = sorted((CHART / "ci").glob("*.yaml"))
# values whose content is free-form (Kubernetes objects, the scenario, maps of names):
# the README names the value, not every key inside it
FREE_FORM = {"podSecurityContext", "securityContext", "affinity", "nodeSelector",
             "tolerations", "podLabels", "podAnnotations", "serviceAccount.annotations",
             "scenario.content", "scenario.proxies", "scenario.targets", "samples.items",
             "imagePullSecrets"}


def coalesce(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Helm's merge of a values file onto the defaults: maps merge key by key, anything
    else replaces, and null deletes the key."""
    out = copy.deepcopy(base)
    for key, value in override.items():
        if value is None:
            out.pop(key, None)
        elif isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = coalesce(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def errors(values: dict[str, Any]) -> list[str]:
    validator = jsonschema.Draft7Validator(SCHEMA)
    return sorted(f"/{'/'.join(str(p) for p in e.absolute_path)}: {e.message}"
                  for e in validator.iter_errors(values))


def test_schema_is_a_valid_draft7_schema():
    """values.schema.json itself is a valid JSON Schema (draft 7, what Helm 3 reads)."""
    jsonschema.Draft7Validator.check_schema(SCHEMA)


def test_defaults_validate():
    """values.yaml as shipped passes its own schema."""
    assert errors(DEFAULTS) == []


@pytest.mark.parametrize("path", CI_FILES, ids=[p.name for p in CI_FILES])
def test_every_ci_values_file_validates(path: Path):
    """Each ci/*.yaml, merged onto the defaults, passes the schema."""
    assert errors(coalesce(DEFAULTS, yaml.safe_load(path.read_text(encoding="utf-8")))) == []


@pytest.mark.parametrize(("override", "where"), [
    ({"harness": {"durationScale": 0}}, "/harness/durationScale"),
    ({"harness": {"durationScale": "fast"}}, "/harness/durationScale"),
    ({"samples": {"variant": "leakyy"}}, "/samples/variant"),
    ({"image": {"pullPolicy": "Sometimes"}}, "/image/pullPolicy"),
    ({"locust": {"workers": {"replicas": 2}}}, "/locust/workers"),
    ({"locust": {"connectTimeout": "soon"}}, "/locust/connectTimeout"),
    ({"scenario": {"content": {"load": {"workers": -1}}}}, "/scenario/content/load/workers"),
    ({"scenario": {"proxies": {"front": {"port": 70000, "upstream": "healthy"}}}},
     "/scenario/proxies/front/port"),
    ({"cronJob": {"schedule": "nightly"}}, "/cronJob/schedule"),
    ({"reports": {"persistence": {"accessModes": ["ReadWriteSometimes"]}}},
     "/reports/persistence/accessModes/0"),
    ({"toxiproxy": {"resources": {"limits": {"cpu": "lots"}}}},
     "/toxiproxy/resources/limits/cpu"),
    ({"nodeSelector": {"disk": 1}}, "/nodeSelector/disk"),
    ({"rbac": {"create": "maybe"}}, "/rbac/create"),
    ({"typo": True}, "/: Additional properties are not allowed ('typo'"),
])
def test_bad_values_are_refused_naming_the_value(override: dict[str, Any], where: str):
    """A wrong type, enum, range or unknown key is refused, and the error names where."""
    found = errors(coalesce(DEFAULTS, override))
    assert any(e.startswith(where) for e in found), found


def leaf_paths(values: dict[str, Any], prefix: str = "") -> list[str]:
    out = []
    for key, value in values.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict) and value and path not in FREE_FORM \
                and not path.endswith("resources"):
            out += leaf_paths(value, path + ".")
        else:
            out.append(path)
    return out


def test_every_value_is_listed_in_the_chart_readme():
    """Each value of values.yaml appears in charts/soak-harness/README.md as `path`."""
    readme = (CHART / "README.md").read_text(encoding="utf-8")
    listed = set(re.findall(r"`([A-Za-z][\w.\[\]]*)`", readme))
    missing = [p for p in leaf_paths(DEFAULTS) if p not in listed]
    assert missing == [], f"values missing from the chart README: {missing}"
