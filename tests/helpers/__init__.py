"""Test helpers: a scripted headquarters client, a cuttable TCP proxy, and a daemon process runner."""
