"""``python -m harness.samples NAME --port P [--variant leaky|fixed] [--host H] [...]``.

Each Python sample module ``harness.samples.<name>`` defines ``create_app(args)`` returning
an aiohttp Application (and optionally ``add_arguments(parser)`` for its own flags). The
runner adds the instrumentation endpoints and serves it until SIGTERM/SIGINT.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from aiohttp import web

from harness.samples._instrument import instrument
from harness.samples._registry import SAMPLES


def main(argv: list[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    if not args_list or args_list[0] not in SAMPLES:
        known = ", ".join(sorted(SAMPLES))
        print(f"usage: python -m harness.samples NAME ... (NAME one of: {known})", file=sys.stderr)
        return 2
    name = args_list.pop(0)
    module = importlib.import_module(f"harness.samples.{name.replace('-', '_')}")
    parser = argparse.ArgumentParser(prog=f"harness.samples {name}")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--variant", choices=("leaky", "fixed"), default="leaky")
    if hasattr(module, "add_arguments"):
        module.add_arguments(parser)
    args = parser.parse_args(args_list)
    app = instrument(module.create_app(args), name, args.variant)
    web.run_app(app, host=args.host, port=args.port, print=None, handle_signals=True,
                shutdown_timeout=2.0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
