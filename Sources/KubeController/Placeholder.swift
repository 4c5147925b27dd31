// KubeController
