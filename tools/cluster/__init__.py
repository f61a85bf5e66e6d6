"""The local test cluster: a control plane and a real node, built from pinned Go modules."""
