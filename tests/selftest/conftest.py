"""Self-tests of the kit's grading pipeline. fixtures/ holds data (a stand-in suite), not tests to collect."""

collect_ignore = ["fixtures"]
