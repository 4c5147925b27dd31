// KubesnapAPI
