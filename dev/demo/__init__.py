"""``forewarn demo``: the whole loop on one machine, from a fault to its detection and heal."""
