"""The services of the shop: each one a package that talks to the others only through events."""
