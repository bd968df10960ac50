"""Self-service flows as explicit state machines: pure steps, I/O at the edge."""
