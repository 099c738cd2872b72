"""Learn: how a CNN computes, step by step, on the student's own image, for every architecture (UI-free)."""
