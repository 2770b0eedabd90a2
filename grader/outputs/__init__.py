"""What grading produces for tutors and students: report, feedback, CSVs, gradebook, plots, manual points."""
