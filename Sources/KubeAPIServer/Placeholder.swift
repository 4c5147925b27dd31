// KubeAPIServer
