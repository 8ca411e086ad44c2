"""Text -> normalised vectors with the bundled all-MiniLM-L6-v2 model."""

from embeddings.encoder import DIM, MODEL_NAME, Encoder

__all__ = ["DIM", "MODEL_NAME", "Encoder"]
