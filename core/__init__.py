"""The core nouns every stage shares: the post, its canonical URL and id, and the typed settings."""
