import KubeClient

extension MetricsRegistry {
    /// A `KubeClient` observer that counts requests as client-go does:
    /// `rest_client_requests_total{verb,code}` and `rest_client_request_duration_seconds{verb}`.
    /// Pass it when making the client: `KubeClient(configuration:, observer: registry.restClientObserver())`.
    public func restClientObserver() -> RequestObserver {
        let requests = counter(
            "rest_client_requests_total",
            help: "Number of HTTP requests, partitioned by verb and status code",
            labels: ["verb", "code"])
        let latency = histogram(
            "rest_client_request_duration_seconds", help: "Request latency in seconds, by verb",
            labels: ["verb"])
        return { observation in
            let verb = observation.verb.uppercased()
            requests.increment(verb, observation.code == 0 ? "<error>" : String(observation.code))
            latency.observe(observation.duration.seconds, verb)
        }
    }
}
