"""What a course author runs: the template generated from the solution, and the student bundle."""
