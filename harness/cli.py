"""The ``harness`` command. The exit code is decided here, in one place:

0 every check passed · 1 a check failed (or compare found a regression) ·
2 invalid input (scenario, CLI, run folder) · 3 the environment failed.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from harness import __version__
from harness.errors import EXIT_CHECK_FAILED, EXIT_INPUT, EXIT_OK, HarnessError


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        print(f"harness: error: {message}", file=sys.stderr)
        raise SystemExit(EXIT_INPUT)


def _env(name: str, default: str | None = None) -> str | None:
    """The variable, or ``default`` when unset or empty (compose passes ``${X:-}`` as "")."""
    return os.environ.get(name) or default


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="harness", description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--version", action="version", version=f"harness {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    def scenario_args(p: argparse.ArgumentParser) -> None:
        p.add_argument("scenario", help="scenario file, or a name in scenarios/")
        p.add_argument("--variant", choices=("leaky", "fixed"),
                       default=_env("HARNESS_VARIANT"),
                       help="sample variant for every sample target [$HARNESS_VARIANT]")
        p.add_argument("--duration-scale", type=float,
                       default=float(_env("HARNESS_DURATION_SCALE", "1") or 1),
                       help="multiply every phase duration [$HARNESS_DURATION_SCALE]")
        p.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE",
                       help="override a scenario field, e.g. load.users=20 or phases[1].duration=30s")

    run = sub.add_parser("run", help="run a scenario and write its report")
    scenario_args(run)
    run.add_argument("--out", type=Path, default=None,
                     help="run folder (default reports/<scenario>-<UTC timestamp>/)")
    run.add_argument("--backend", default=_env("HARNESS_BACKEND", "local"),
                     choices=("local", "compose", "attach"), help="[$HARNESS_BACKEND]")
    run.add_argument("--reports-root", type=Path,
                     default=Path(_env("HARNESS_REPORTS", "reports") or "reports"),
                     help="where run folders go [$HARNESS_REPORTS]")
    run.add_argument("-q", "--quiet", action="store_true", help="no progress output")

    validate = sub.add_parser("validate", help="validate a scenario; start nothing")
    scenario_args(validate)

    sub.add_parser("list", help="list scenarios and samples")

    report = sub.add_parser("report", help="(re)write the report of a run folder")
    report.add_argument("run_dir", type=Path)

    compare = sub.add_parser("compare", help="compare a candidate run against a baseline")
    compare.add_argument("baseline", type=Path)
    compare.add_argument("candidate", type=Path)
    compare.add_argument("--tolerance", type=float, default=0.10,
                         help="relative worsening allowed before it counts as a regression")
    compare.add_argument("--out", type=Path, default=None,
                         help="where compare.html/.md go (default: the candidate's folder)")

    sub.add_parser("setup", help="find or install toxiproxy-server (and build the Go sample)")
    return parser


def _load(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    from harness.scenario import load_scenario

    return load_scenario(args.scenario, variant=args.variant, sets=args.sets,
                         duration_scale=args.duration_scale)


def cmd_validate(args: argparse.Namespace) -> int:
    scenario = _load(args)
    targets = ", ".join(f"{t.name}({t.sample or t.command[0] if t.command else t.sample})"
                        for t in scenario.all_targets)
    print(f"{args.scenario}: ok — {scenario.name}"
          f"{' [' + scenario.variant + ']' if scenario.variant else ''}: "
          f"{len(scenario.phases)} phases, {scenario.duration:g}s, targets {targets}, "
          f"{len(scenario.thresholds)} thresholds")
    return EXIT_OK


def cmd_run(args: argparse.Namespace) -> int:
    from harness.run import RunOptions, run_scenario
    from harness.verdicts import exit_code_for

    scenario = _load(args)
    outcome = run_scenario(scenario, RunOptions(out=args.out, backend=args.backend,
                                                reports_root=args.reports_root, quiet=args.quiet))
    summary = outcome.summary
    failed = [c for c in summary.failed_checks if c.category != "tool"]
    tools = [c for c in summary.failed_checks if c.category == "tool"]
    print(f"{summary.verdict.value.upper()}: {scenario.name}"
          f"{' [' + scenario.variant + ']' if scenario.variant else ''} "
          f"({summary.status}, {len(summary.checks)} checks, {len(failed)} failed)")
    if summary.reason:
        print(f"  {summary.reason.splitlines()[0]}")
    for check in failed:
        print(f"  FAIL {check.name}: {check.detail}")
    for check in tools:
        print(f"  TOOL {check.name}: {check.detail} (a harness tool problem; not the target's)")
    print(f"report: {outcome.run_dir / 'report.html'}")
    return exit_code_for(summary)


def cmd_report(args: argparse.Namespace) -> int:
    from harness._finish import finish
    from harness.verdicts import exit_code_for

    summary = finish(args.run_dir)
    print(f"{summary.verdict.value.upper()}: {summary.scenario} ({summary.status}); "
          f"report: {args.run_dir / 'report.html'}")
    return exit_code_for(summary)


def cmd_compare(args: argparse.Namespace) -> int:
    from harness.errors import RunDirError
    from harness.report import compare_runs

    for path in (args.baseline, args.candidate):
        if not (path / "summary.json").exists():
            raise RunDirError(f"{path}: no summary.json; run `harness report {path}` first")
    result = compare_runs(args.baseline, args.candidate, args.out or args.candidate,
                          tolerance=args.tolerance)
    print(("REGRESSED" if result.regressed else "OK") + f": {args.candidate} vs {args.baseline}")
    for path in result.paths:
        print(f"  {path}")
    return EXIT_CHECK_FAILED if result.regressed else EXIT_OK


def cmd_list(_: argparse.Namespace) -> int:
    from harness.samples import SAMPLES
    from harness.scenario import SCENARIO_DIRS

    print("samples:")
    for sample in sorted(SAMPLES.values(), key=lambda s: s.name):
        variants = "/".join(sample.variants) or "-"
        print(f"  {sample.name:<20} {sample.language:<7} {variants:<12} {sample.summary}")
        if sample.patterns:
            print(f"  {'':<20} patterns: {', '.join(sample.patterns)}")
        if sample.scenarios:
            print(f"  {'':<20} scenarios: {', '.join(sample.scenarios)}")
    print("scenarios:")
    seen: set[str] = set()
    import yaml

    for folder in SCENARIO_DIRS:
        for path in sorted(folder.glob("*.yaml")) if folder.is_dir() else []:
            if path.stem in seen:
                continue
            seen.add(path.stem)
            try:
                raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
                desc = " ".join(str(raw.get("description", "")).split())
            except (OSError, yaml.YAMLError):
                desc = "(unreadable)"
            if len(desc) > 90:
                desc = desc[:90].rsplit(" ", 1)[0] + " ..."
            print(f"  {path.stem:<20} {desc}")
    return EXIT_OK


def cmd_setup(_: argparse.Namespace) -> int:
    from harness.tools import build_go_sample, go_version, install_toxiproxy

    tool = install_toxiproxy()
    print(f"toxiproxy-server: {tool.path} ({tool.version}; {tool.source})")
    if go_version() is not None:
        print(f"go sample: {build_go_sample()}")
    else:
        print("go sample: skipped (no Go found; the go_leaks scenario needs it)")
    return EXIT_OK


COMMANDS = {"run": cmd_run, "validate": cmd_validate, "list": cmd_list, "report": cmd_report,
            "compare": cmd_compare, "setup": cmd_setup}


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except HarnessError as exc:
        print(f"harness: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("harness: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
