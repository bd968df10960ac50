"""The only package that touches cryptography. Verification raises; it never returns a boolean."""
