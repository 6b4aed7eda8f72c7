"""Electronic shelf labels: turning product prices into e-paper label images."""
