"""Reusable dashboard widgets; they draw data handed to them and never reach a transport."""
