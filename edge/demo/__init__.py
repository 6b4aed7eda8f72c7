"""The demo: a local broker, the daemon on simulated devices, and a scripted headquarters telling each job's story."""
