"""The scenario's user classes (and the locustfile's own shape) as the generated locustfile
binds them: ``load.user`` (one name, a list, or none: every User class of the locustfile),
``load.weights`` / ``load.fixed_counts`` set on the classes, and ``load.shape``.

When the run's proxy listens in several toxiproxy-server processes (``HARNESS_HOSTS``, a JSON
list of URLs), every user of a class gets one of them as its own ``host`` in turn, before the
class's ``__init__`` runs (an ``HttpUser`` builds its client from it): Locust sets one host
for every class, and this spreads the connections over the processes with any locustfile.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import itertools
import json
import os
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

from harness.scenario import locustfile_is_path

DEFAULT_MODULE = "harness.load.users"
HOSTS_ENV = "HARNESS_HOSTS"
_SPREAD = "_harness_spread"  # set on a class whose __init__ picks a host (once per class)


def spread_hosts(cls: Any, hosts: list[str]) -> None:
    """Give each new user of ``cls`` the next of ``hosts`` as its own ``host``.

    Users are counted per process from a place that differs per process (its pid), so the
    workers of a run do not all start on the first host. A class is wrapped once."""
    if len(hosts) < 2 or _SPREAD in vars(cls):
        return
    turn = itertools.count(os.getpid())
    original = cls.__init__

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        if "host" not in vars(self):  # a subclass's wrapper already picked
            self.host = hosts[next(turn) % len(hosts)]
        original(self, *args, **kwargs)

    cls.__init__ = __init__
    setattr(cls, _SPREAD, True)


def spread_targets() -> list[str]:
    """The listen addresses (URLs) the run spreads its load over (``HARNESS_HOSTS``); empty
    when it has one."""
    text = os.environ.get(HOSTS_ENV)
    if not text:
        return []
    hosts = json.loads(text)
    if not (isinstance(hosts, list) and all(isinstance(h, str) for h in hosts)):
        raise ValueError(f"{HOSTS_ENV}: not a JSON list of URLs: {text!r}")
    return hosts


def _import(ref: str) -> ModuleType:
    if not locustfile_is_path(ref):
        return importlib.import_module(ref)
    path = Path(ref).resolve()
    name = f"harness_user_{path.stem}"
    if name in sys.modules:  # several classes of one file: import it once
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"load.locustfile: cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    sys.path.insert(0, str(path.parent))  # its own helper modules, as Locust would
    spec.loader.exec_module(module)
    return module


def _runnable(module: ModuleType) -> list[str]:
    from locust import User

    return sorted(
        name for name, value in vars(module).items()
        if isinstance(value, type) and issubclass(value, User) and not value.abstract
    )


def resolve_user_class(user: str, locustfile: str | None, *, weight: int | None = None,
                       fixed_count: int | None = None) -> Any:
    """The Locust User class ``user`` from ``locustfile``; ImportError naming what is wrong.
    ``weight`` / ``fixed_count`` (the scenario's) replace the class's own."""
    from locust import User

    where = locustfile or DEFAULT_MODULE
    module = _import(where)
    found = getattr(module, user, None)
    if not (isinstance(found, type) and issubclass(found, User)):
        raise ImportError(
            f"load.user: no Locust User class {user!r} in {where}; "
            f"found: {', '.join(_runnable(module)) or 'none'}"
        )
    if found.abstract:
        raise ImportError(f"load.user: {user!r} in {where} is abstract (no tasks to run)")
    if weight is not None:
        found.weight = weight
    if fixed_count is not None:
        found.fixed_count = fixed_count
    spread_hosts(found, spread_targets())
    return found


def all_user_classes(locustfile: str, weights: dict[str, int] | None = None,
                     fixed_counts: dict[str, int] | None = None) -> dict[str, Any]:
    """Every runnable User class of ``locustfile`` (what Locust itself would run), by name."""
    module = _import(locustfile)
    names = _runnable(module)
    if not names:
        raise ImportError(f"load.locustfile: no runnable Locust User class in {locustfile}")
    unknown = sorted(set(weights or {}) | set(fixed_counts or {}) - set(names))
    if unknown:
        raise ImportError(f"load.weights/fixed_counts: no User class {', '.join(unknown)} in "
                          f"{locustfile}; found: {', '.join(names)}")
    return {name: resolve_user_class(name, locustfile, weight=(weights or {}).get(name),
                                     fixed_count=(fixed_counts or {}).get(name))
            for name in names}


def own_shape(locustfile: str | None, mode: str) -> type | None:
    """The locustfile's own LoadTestShape class when ``mode`` lets the harness follow it
    (``auto``: if it has one; ``locustfile``: it must have exactly one), else None."""
    from locust import LoadTestShape

    if mode == "phases" or locustfile is None:
        if mode == "locustfile":
            raise ImportError("load.shape: locustfile needs load.locustfile")
        return None
    module = _import(locustfile)
    shapes = [value for value in vars(module).values()
              if inspect.isclass(value) and issubclass(value, LoadTestShape)
              and not getattr(value, "abstract", True)]
    if len(shapes) > 1:
        raise ImportError(f"load.shape: {locustfile} has {len(shapes)} LoadTestShape classes "
                          f"({', '.join(s.__name__ for s in shapes)}); the harness follows one")
    if not shapes and mode == "locustfile":
        raise ImportError(f"load.shape: locustfile, but {locustfile} has no LoadTestShape class")
    return shapes[0] if shapes else None
