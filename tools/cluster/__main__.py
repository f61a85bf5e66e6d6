"""`python -m tools.cluster build|up|env|status|down` from the repository root."""

from tools.cluster.cluster import main

main()
