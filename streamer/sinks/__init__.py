"""Where results go. Sinks know nothing of sources."""
