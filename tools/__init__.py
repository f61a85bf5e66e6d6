"""Developer and CI tools: the local Kubernetes cluster, the Docker engine and base images."""
