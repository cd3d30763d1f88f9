"""target-jobsync: write-back to Workable, ZipRecruiter Job Alerts and Jobcase."""
