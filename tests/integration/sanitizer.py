"""What a sanitizer report looks like in a daemon's output, for every harness that reads one
(edgeharness.py, control/ctlharness.py): ASan, LSan, TSan and MSan's "ERROR:" line, their
closing "SUMMARY:" line, and UBSan's "runtime error:"."""
import re

REPORT = re.compile(r"runtime error:|ERROR: (Address|Leak|Thread|Memory)Sanitizer|"
                    r"SUMMARY: \w+Sanitizer")


def report_lines(lines):
    """The lines of lines (an iterable of str) that belong to a sanitizer's report."""
    return [ln for ln in lines if REPORT.search(ln)]
