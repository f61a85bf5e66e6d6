"""The local test cluster (a control plane with kwok nodes), the pinned Kubernetes builds that the
Minikube tier shares, and the fault scenarios run on Minikube."""
