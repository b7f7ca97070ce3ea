"""Where results go: files, JSONL, the caller's loop (and network outputs). Outputs know nothing of sources."""
