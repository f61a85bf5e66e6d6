#!/usr/bin/env python3
"""Adds up the junit XML files of all tiers and prints one closing line:
`total: N passed, N failed, N skipped`. Exits non-zero when any test or tier failed,
or when no test ran at all (an empty run is a failure, never a pass)."""

from __future__ import annotations

import argparse
import sys
import xml.etree.ElementTree as ET
from pathlib import Path


def count(path: Path) -> tuple[int, int, int]:
    passed = failed = skipped = 0
    for case in ET.parse(path).getroot().iter("testcase"):  # noqa: S314 (our own test output)
        outcome = {child.tag for child in case}
        if outcome & {"failure", "error"}:
            failed += 1
        elif "skipped" in outcome:
            skipped += 1
        else:
            passed += 1
    return passed, failed, skipped


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("directory", type=Path)
    parser.add_argument("--failed-tiers", type=int, default=0)
    args = parser.parse_args()
    totals = [0, 0, 0]
    for path in sorted(args.directory.glob("*.xml")):
        p, f, s = count(path)
        print(f"  {path.stem:<12} {p} passed, {f} failed, {s} skipped")
        totals = [totals[0] + p, totals[1] + f, totals[2] + s]
    passed, failed, skipped = totals
    if args.failed_tiers and not failed:
        failed = args.failed_tiers  # a tier broke before writing junit (lint, build): count it
    print(f"total: {passed} passed, {failed} failed, {skipped} skipped")
    if passed == 0:
        print("no test ran: that is a failure", file=sys.stderr)
        return 1
    return 1 if failed or args.failed_tiers else 0


if __name__ == "__main__":
    sys.exit(main())
