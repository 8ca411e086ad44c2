"""Front ends: the terminal REPL and the Telegram bot. They render answers; they never search."""
