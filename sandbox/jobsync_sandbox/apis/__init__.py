"""The simulated APIs, one module each."""

from jobsync_sandbox.apis.jobcase import JobcaseAPI
from jobsync_sandbox.apis.pcrecruiter import PCRecruiterAPI
from jobsync_sandbox.apis.trackjobchanges import TrackJobChangesAPI
from jobsync_sandbox.apis.workable import WorkableAPI
from jobsync_sandbox.apis.ziprecruiter import ZipRecruiterAPI

API_CLASSES = (TrackJobChangesAPI, PCRecruiterAPI, ZipRecruiterAPI, JobcaseAPI, WorkableAPI)

__all__ = ["API_CLASSES", "JobcaseAPI", "PCRecruiterAPI", "TrackJobChangesAPI", "WorkableAPI", "ZipRecruiterAPI"]
