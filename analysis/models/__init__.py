"""The trained model files shipped with the package (see docs/sentiment-data-card.md)."""
