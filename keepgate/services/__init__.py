"""The application layer: ports declared by their consumer, and one service per concern."""
