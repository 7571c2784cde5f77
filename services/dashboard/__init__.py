"""The dashboard: a browser UI that makes the event flow visible. It is just another subscriber."""
