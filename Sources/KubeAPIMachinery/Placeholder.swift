// KubeAPIMachinery
