"""Artifact rollout (issue 17 item 2): signed files from headquarters, delivered in chunks, installed beside the running ones, switched with a self-check."""
