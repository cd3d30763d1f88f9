"""The on-machine limit: the simplest loop that reads the same sandbox pages as the tap.

One ``requests.Session``, stdlib ``json``, one JSON line per record on stdout,
nothing else (no schema, no state, no retries). Run as its own process, like the tap::

    python -m benchmarks.bare_loops --config tap.json --stream jobcase_jobs > /dev/null

It requests exactly the pages the tap requests (same page sizes and parameters)
and reports ``{"records": n, "requests": m}`` on stderr. ``--children`` also reads
every parent's child list, one request after the other (the sequential baseline).
"""

from __future__ import annotations

import argparse
import json
import sys
import typing as t

import requests

from jobsync_common import jobcase as jc
from jobsync_common import ziprecruiter as zr
from tap_jobsync.jobcase import api as tap_jc
from tap_jobsync.pcrecruiter import api as pcr

Emit = t.Callable[[dict], None]


class BareLoop:
    def __init__(self, config: dict[str, t.Any], out: t.TextIO) -> None:
        self.config = config
        self.session = requests.Session()
        self.out = out
        self.records = 0
        self.requests = 0

    def get(self, url: str, **kwargs: t.Any) -> t.Any:
        self.requests += 1
        response = self.session.get(url, timeout=60, **kwargs)
        response.raise_for_status()
        return json.loads(response.content)

    def emit(self, record: dict) -> None:
        self.out.write(json.dumps(record) + "\n")
        self.records += 1

    # -- TrackJobChanges: `page` from 1 until `last_page` ----------------------------------------------
    def tjc_pages(self, path: str) -> t.Iterator[dict]:
        base = self.config["trackjobchanges_base_url"]
        headers = {"key": self.config["trackjobchanges_api_key"]}
        page = 1
        while True:
            body = self.get(f"{base}{path}", params={"page": page}, headers=headers)
            yield from body["data"]
            if body.get("last_page") is True:
                return
            page += 1

    def trackjobchanges_connections(self, children: bool) -> None:
        for connection in self.tjc_pages("/connections"):
            self.emit(connection)
            if children:
                for employment in self.tjc_pages(f"/connections/{connection['id']}/employments"):
                    self.emit(employment)

    # -- ZipRecruiter: `limit`/`skip` until a short page or `total_count` -----------------------------------
    def zr_pages(self, path: str, properties: t.Sequence[str]) -> t.Iterator[dict]:
        base = self.config["ziprecruiter_base_url"]
        auth = (self.config["ziprecruiter_api_key"], "")
        skip = 0
        while True:
            params = {"limit": zr.MAX_PAGE_SIZE, "skip": skip, "properties": ",".join(properties)}
            body = self.get(f"{base}{path}", params=params, auth=auth)
            results = body["results"]
            yield from results
            skip += len(results)
            total = body.get("total_count")
            if len(results) < zr.MAX_PAGE_SIZE or (total is not None and skip >= int(total)):
                return

    def ziprecruiter_subscribers(self, children: bool) -> None:
        for subscriber in self.zr_pages("/subscriber", zr.SUBSCRIBER_PROPERTIES):
            self.emit(subscriber)
            if children:
                for search in self.zr_pages(f"/subscriber/{subscriber['id']}/searches", zr.SEARCH_PROPERTIES):
                    self.emit(search)

    # -- PCRecruiter: a session, then `Page`/`ResultsPerPage` until a short page ----------------------------
    def pcrecruiter_candidates(self, _children: bool) -> None:  # PCRecruiter entities have no children
        base = self.config["pcrecruiter_base_url"]
        login = {
            "DatabaseId": self.config["pcrecruiter_database_id"],
            "Username": self.config["pcrecruiter_username"],
            "Password": self.config["pcrecruiter_password"],
            "AppId": self.config["pcrecruiter_app_id"],
            "ApiKey": self.config["pcrecruiter_api_key"],
        }
        session_id = self.get(f"{base}/access-token", params=login)["SessionId"]
        headers = {"Authorization": f"BEARER {session_id}"}
        per_page = pcr.results_per_page(self.config)
        page = 1
        while True:
            body = self.get(f"{base}/candidates", params={"ResultsPerPage": per_page, "Page": page}, headers=headers)
            for row in body["Results"]:
                self.emit(row)
            if len(body["Results"]) < per_page or page * per_page >= body["TotalRecords"]:
                return
            page += 1

    # -- Jobcase: `offset`/`limit` per status until `count` ------------------------------------------------------
    def jobcase_jobs(self, _children: bool) -> None:  # Jobcase jobs have no children
        base = self.config["jobcase_base_url"]
        headers = {jc.API_KEY_HEADER: self.config["jobcase_api_key"]}
        limit = tap_jc.page_size(self.config)
        for status in jc.JOB_STATUSES:
            offset = 0
            while True:
                params = {"offset": offset, "limit": limit, "status": status}
                body = self.get(f"{base}/job/", params=params, headers=headers)
                for job in body["results"]:
                    self.emit(job)
                offset += len(body["results"])
                if not body["results"] or offset >= body["count"]:
                    break


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--config", required=True, help="tap config (base URLs and credentials)")
    parser.add_argument("--stream", required=True, help="top-level stream name, e.g. jobcase_jobs")
    parser.add_argument("--children", action="store_true", help="also read each parent's child list")
    args = parser.parse_args(argv)
    with open(args.config, encoding="utf-8") as handle:
        config = json.load(handle)
    loop = BareLoop(config, sys.stdout)
    getattr(loop, args.stream)(args.children)
    sys.stdout.flush()
    sys.stderr.write(json.dumps({"records": loop.records, "requests": loop.requests}) + "\n")


if __name__ == "__main__":
    main()
