"""notifications: one email per order outcome, whatever the redeliveries."""
