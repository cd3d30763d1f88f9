"""What tap-jobsync logs about a run: one summary line per stream, not a line per page or parent record.

Each selected stream ends with ``Summary <stream>: N records, R requests, T retries, S s``
(the counts are the run's own); singer-sdk's per-page ("Pagination stopped after ...") and
per-parent ("Beginning sync ... with context") lines and its "Stream is assumed to be
unsorted" warning for streams unsorted by design stay at DEBUG.
"""

from __future__ import annotations

import re

from support import run_tap

from jobsync_sandbox import configs

SUMMARY = re.compile(r"Summary (\w+): (\d+) records, (\d+) requests, (\d+) retries, [\d.]+s")


def test_every_stream_ends_with_one_summary_line_whose_counts_are_the_runs_own(sandbox, credentials):
    sandbox.reset(sizes={"trackjobchanges": {"connections": 12, "page_size": 5, "employments_per_connection": 2}})
    sandbox.add_fault(api="trackjobchanges", method="GET", path="^/connections$", kind="status", status=503, skip=1)
    config = configs.tap_config(sandbox.base_urls, credentials, services=("trackjobchanges",))
    run = run_tap(config).check()
    summaries = {m[1]: tuple(map(int, m.groups()[1:])) for m in SUMMARY.finditer(run.stderr)}
    streams = {
        "trackjobchanges_account",
        "trackjobchanges_connections",
        "trackjobchanges_employments",
        "trackjobchanges_pings",
    }
    assert set(summaries) == streams
    for stream in streams:
        assert summaries[stream][0] == len(run.records(stream)), stream
    # 3 pages of connections, one of them retried once; one employments request per connection.
    assert summaries["trackjobchanges_connections"][1:] == (4, 1)
    assert summaries["trackjobchanges_employments"][1:] == (12, 0)


def test_no_line_per_page_or_per_parent_and_no_unsorted_warning(sandbox, credentials):
    sandbox.reset()
    run = run_tap(configs.tap_config(sandbox.base_urls, credentials)).check()
    assert "Pagination stopped after" not in run.stderr
    assert "with context" not in run.stderr
    assert "Stream is assumed to be unsorted" not in run.stderr
    assert " ERROR " not in run.stderr
