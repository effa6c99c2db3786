"""Config-free helpers shared by every layer: atomic file writes, quiet TensorFlow start-up, the terminal and log-file lines (console)."""
