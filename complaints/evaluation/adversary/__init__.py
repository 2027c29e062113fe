"""The hold-out stream: written by another hand, apart from the product's code (README.md here)."""
