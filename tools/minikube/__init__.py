"""A real minikube on a machine that reaches no container registry: what it needs, built here."""
