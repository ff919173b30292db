// Helpers for tests: gradient checks and tolerances.
