"""Finding ``load.user`` in ``load.locustfile`` (a module name or a path to a .py file)."""

from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

from harness.scenario import locustfile_is_path

DEFAULT_MODULE = "harness.load.users"


def _import(ref: str) -> ModuleType:
    if not locustfile_is_path(ref):
        return importlib.import_module(ref)
    path = Path(ref).resolve()
    name = f"harness_user_{path.stem}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"load.locustfile: cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    sys.path.insert(0, str(path.parent))  # its own helper modules, as Locust would
    spec.loader.exec_module(module)
    return module


def resolve_user_class(user: str, locustfile: str | None) -> Any:
    """The Locust User class ``user`` from ``locustfile``; ImportError naming what is wrong."""
    from locust import User

    where = locustfile or DEFAULT_MODULE
    module = _import(where)
    found = getattr(module, user, None)
    if not (isinstance(found, type) and issubclass(found, User)):
        known = sorted(
            name for name, value in vars(module).items()
            if isinstance(value, type) and issubclass(value, User) and not value.abstract
        )
        raise ImportError(
            f"load.user: no Locust User class {user!r} in {where}; "
            f"found: {', '.join(known) or 'none'}"
        )
    if found.abstract:
        raise ImportError(f"load.user: {user!r} in {where} is abstract (no tasks to run)")
    return found
