"""tap-jobsync: TrackJobChanges, PCRecruiter, ZipRecruiter Job Alerts and Jobcase."""
