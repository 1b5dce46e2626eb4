"""The SCS-Co generator and its building blocks."""
