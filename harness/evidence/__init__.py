"""Evidence of a drill run: the run record and the reports written from it."""
