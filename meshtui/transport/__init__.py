"""Transports: getting babeld control lines in and out (unix/TCP socket, SSH, replay)."""
