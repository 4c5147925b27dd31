import KubeJSON

/// Test-only faults the server can be told to inject (in-process or over `POST /debug/faults`):
/// close all watches, answer the next watches with 410, fail the next requests with 429/500,
/// add latency.
public final class FaultInjector: Sendable {
    struct State {
        var goneNextWatches = 0
        var failCount = 0
        var failCode = 500
        var retryAfterSeconds = 1
        var latencyMilliseconds = 0
    }
    let state = Locked(State())
    /// Set by the server: ends every open watch.
    let closeWatchesAction = Locked<(@Sendable () async -> Void)?>(nil)

    init() {}

    /// Ends every open watch now (clients see the stream close and re-watch).
    public func closeWatches() async {
        if let action = closeWatchesAction.current { await action() }
    }

    /// The next `count` watch requests get an ERROR event with a 410 Expired Status.
    public func goneNextWatches(_ count: Int) { state.withLock { $0.goneNextWatches = max(0, count) } }

    /// The next `count` API requests fail with `code` (429 carries Retry-After).
    public func failNext(count: Int, code: Int, retryAfterSeconds: Int = 1) {
        state.withLock {
            $0.failCount = max(0, count)
            $0.failCode = code
            $0.retryAfterSeconds = retryAfterSeconds
        }
    }

    /// Delay added to every API request; 0 clears it.
    public func setLatency(milliseconds: Int) { state.withLock { $0.latencyMilliseconds = max(0, milliseconds) } }

    /// Clears every fault.
    public func reset() { state.withLock { $0 = State() } }

    /// Applies a `/debug/faults` body.
    func apply(_ body: JSONValue) async throws(APIError) {
        guard case .object(let fields) = body, !fields.isEmpty else {
            throw APIError.badRequest("a fault is one of closeWatches, goneNextWatches, failNext, latencyMilliseconds, reset")
        }
        if body["reset"].boolValue == true { reset() }
        if let n = body["goneNextWatches"].intValue { goneNextWatches(Int(n)) }
        if !body["failNext"].isNull {
            let f = body["failNext"]
            guard let count = f["count"].intValue, let code = f["code"].intValue, code == 429 || code == 500 else {
                throw APIError.badRequest("failNext needs count and code (429 or 500)")
            }
            failNext(count: Int(count), code: Int(code), retryAfterSeconds: Int(f["retryAfterSeconds"].intValue ?? 1))
        }
        if let ms = body["latencyMilliseconds"].intValue { setLatency(milliseconds: Int(ms)) }
        if body["closeWatches"].boolValue == true { await closeWatches() }
    }

    func takeWatchGone() -> Bool {
        state.withLock {
            guard $0.goneNextWatches > 0 else { return false }
            $0.goneNextWatches -= 1
            return true
        }
    }

    func takeFailure() -> APIError? {
        state.withLock { s -> APIError? in
            guard s.failCount > 0 else { return nil }
            s.failCount -= 1
            if s.failCode == 429 {
                var e = APIError(
                    code: 429, reason: "TooManyRequests", message: "the server has received too many requests and has asked us to try again later",
                    details: ["retryAfterSeconds": .int(Int64(s.retryAfterSeconds))])
                e.headers = [("Retry-After", String(s.retryAfterSeconds))]
                return e
            }
            return APIError.internalError("injected fault")
        }
    }

    var latencyMilliseconds: Int { state.current.latencyMilliseconds }
}
