"""The three demonstrations (scale, failure, subscriber) and the coupled anti-pattern."""
