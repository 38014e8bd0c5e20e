"""Developer tooling: the local broker, the llama.cpp server, the demo and the benchmarks.

Nothing at runtime imports this package (tests/test_layout.py checks it); the CLI reaches it
lazily, inside the bodies of its dev commands."""
