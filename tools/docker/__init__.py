"""Docker for the images tier and the node: the engine, containers, local base images."""
