"""Records and rules. No I/O, no framework: everything here is plain Python."""
