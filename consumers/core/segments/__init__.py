"""Segments of the traffic, where the errors rose, and the gap between groups (:mod:`.watch`)."""
