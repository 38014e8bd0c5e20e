"""The chaos suite: every seed fault on the real stack, with healing on and off, scored against targets."""
