"""The UV laser's service side: job parameters and their validation, hole grading, storage."""
