"""Grading a class: intake of submissions, one trusted pytest process per submission, kept results."""
