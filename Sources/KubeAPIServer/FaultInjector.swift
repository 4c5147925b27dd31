import KubeJSON

/// Test-only faults the server can be told to inject (in-process or over `POST /debug/faults`):
/// close all watches (cleanly, or cut mid-stream without the final chunk), answer the next
/// watches with 410, fail the next requests with 429/500/503 (any request, or the next ones
/// matching a `FaultRule`: a verb, a resource, a subresource, a name), add latency, or a seeded
/// `ChaosProfile` that does the same at random rates.
public final class FaultInjector: Sendable {
    struct State {
        var goneNextWatches = 0
        var failCount = 0
        var failCode = 500
        var retryAfterSeconds = 1
        var latencyMilliseconds = 0
        var rules: [FaultRule] = []
        /// Failures injected so far, by status code.
        var injected: [Int: Int] = [:]
        /// 410s answered to watches so far.
        var injectedGone = 0
        /// Requests that asked for their fault (every API request), faulted or not.
        var requests = 0
        var chaos: ChaosProfile?
        var random = SplitMix64(seed: 0)
    }
    let state = Locked(State())
    /// Set by the server: ends every open watch (abruptly or not).
    let closeWatchesAction = Locked<(@Sendable (_ abruptly: Bool) async -> Void)?>(nil)

    init() {}

    /// Ends every open watch now (clients see the stream close and re-watch); `abruptly` cuts
    /// the connection mid-stream, without the chunked stream's final chunk.
    public func closeWatches(abruptly: Bool = false) async {
        if let action = closeWatchesAction.current { await action(abruptly) }
    }

    /// Injects faults at random, at `profile`'s rates, from its seed (nil stops it). The same
    /// seed gives the same sequence of decisions; which request meets each depends on the
    /// order requests arrive in.
    public func setChaos(_ profile: ChaosProfile?) {
        state.withLock {
            $0.chaos = profile
            $0.random = SplitMix64(seed: profile?.seed ?? 0)
        }
    }

    /// A random latency for the next request, in milliseconds (0 without chaos latency).
    func chaosLatencyMilliseconds() -> Int {
        state.withLock { s in
            guard let maximum = s.chaos?.latencyMaxMilliseconds, maximum > 0 else { return 0 }
            return Int(s.random.next() % UInt64(maximum + 1))
        }
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

    /// The next `rule.count` requests matching `rule` fail with `rule.code` (rules are kept in
    /// the order given; a request takes the first that matches).
    public func fail(_ rule: FaultRule) { state.withLock { $0.rules.append(rule) } }

    /// Failures injected so far, by HTTP status code (for a fault suite's figures).
    public var injectedFailures: [Int: Int] { state.current.injected }

    /// Watches answered with 410 Gone so far.
    public var injectedGone: Int { state.current.injectedGone }

    /// API requests seen so far (each asks for its fault), faulted or not.
    public var requestsSeen: Int { state.current.requests }

    /// Requests still to be failed by rules.
    public var pendingRuleFailures: Int { state.current.rules.reduce(0) { $0 + $1.count } }

    /// Delay added to every API request; 0 clears it.
    public func setLatency(milliseconds: Int) { state.withLock { $0.latencyMilliseconds = max(0, milliseconds) } }

    /// Clears every fault (the counts of requests and of faults injected so far stay).
    public func reset() {
        state.withLock {
            var cleared = State()
            cleared.injected = $0.injected
            cleared.injectedGone = $0.injectedGone
            cleared.requests = $0.requests
            $0 = cleared
        }
    }

    /// Applies a `/debug/faults` body.
    func apply(_ body: JSONValue) async throws(APIError) {
        guard case .object(let fields) = body, !fields.isEmpty else {
            throw APIError.badRequest(
                "a fault is one of closeWatches, cutWatches, goneNextWatches, failNext, failMatching, latencyMilliseconds, reset")
        }
        if body["reset"].boolValue == true { reset() }
        if let n = body["goneNextWatches"].intValue { goneNextWatches(Int(n)) }
        if !body["failNext"].isNull {
            let f = body["failNext"]
            guard let count = f["count"].intValue, let code = f["code"].intValue, FaultRule.codes.contains(Int(code)) else {
                throw APIError.badRequest("failNext needs count and code (429, 500 or 503)")
            }
            failNext(count: Int(count), code: Int(code), retryAfterSeconds: Int(f["retryAfterSeconds"].intValue ?? 1))
        }
        if !body["failMatching"].isNull {
            let f = body["failMatching"]
            guard let count = f["count"].intValue, let code = f["code"].intValue, FaultRule.codes.contains(Int(code)) else {
                throw APIError.badRequest("failMatching needs count and code (429, 500 or 503)")
            }
            fail(
                FaultRule(
                    verb: f["verb"].stringValue, resource: f["resource"].stringValue,
                    subresource: f["subresource"].stringValue, namespace: f["namespace"].stringValue,
                    name: f["name"].stringValue, count: Int(count), code: Int(code),
                    retryAfterSeconds: Int(f["retryAfterSeconds"].intValue ?? 0)))
        }
        if let ms = body["latencyMilliseconds"].intValue { setLatency(milliseconds: Int(ms)) }
        if body["closeWatches"].boolValue == true { await closeWatches() }
        if body["cutWatches"].boolValue == true { await closeWatches(abruptly: true) }
    }

    func takeWatchGone() -> Bool {
        state.withLock { s in
            if s.goneNextWatches > 0 {
                s.goneNextWatches -= 1
            } else if let percent = s.chaos?.gonePercent, percent > 0, s.random.next() % 100 < UInt64(percent) {
                // chaos
            } else {
                return false
            }
            s.injectedGone += 1
            return true
        }
    }

    /// The failure this request gets, if any: the first matching rule's, else one of `failNext`.
    func takeFailure(_ request: FaultRule.Request) -> APIError? {
        state.withLock { s -> APIError? in
            s.requests += 1
            let code: Int
            let retryAfter: Int
            if let index = s.rules.firstIndex(where: { $0.count > 0 && $0.matches(request) }) {
                s.rules[index].count -= 1
                code = s.rules[index].code
                retryAfter = s.rules[index].retryAfterSeconds
                if s.rules[index].count == 0 { s.rules.remove(at: index) }
            } else if s.failCount > 0 {
                s.failCount -= 1
                code = s.failCode
                retryAfter = s.retryAfterSeconds
            } else if let chaos = s.chaos, chaos.failPercent > 0, !chaos.codes.isEmpty,
                request.verb != "watch", s.random.next() % 1000 < UInt64(chaos.failPercent * 10)
            {
                code = chaos.codes[Int(s.random.next() % UInt64(chaos.codes.count))]
                retryAfter = code == 429 ? 1 : 0
            } else {
                return nil
            }
            s.injected[code, default: 0] += 1
            return Self.error(code: code, retryAfterSeconds: retryAfter)
        }
    }

    static func error(code: Int, retryAfterSeconds: Int) -> APIError {
        switch code {
        case 429:
            var e = APIError(
                code: 429, reason: "TooManyRequests",
                message: "the server has received too many requests and has asked us to try again later",
                details: ["retryAfterSeconds": .int(Int64(retryAfterSeconds))])
            e.headers = [("Retry-After", String(retryAfterSeconds))]
            return e
        case 503:
            // Without Retry-After unless asked: clients retry a write only when the server says
            // when (client-go), so the fault reaches the caller.
            var e = APIError(code: 503, reason: "ServiceUnavailable", message: "injected fault: the server is currently unable to handle the request")
            if retryAfterSeconds > 0 { e.headers = [("Retry-After", String(retryAfterSeconds))] }
            return e
        default:
            return APIError.internalError("injected fault")
        }
    }

    var latencyMilliseconds: Int { state.current.latencyMilliseconds }
}

/// Faults at random rates from a seed (`FaultInjector.setChaos`): the fault suite's weather.
public struct ChaosProfile: Sendable, Equatable {
    public var seed: UInt64
    /// Percent of requests other than watches that fail (with one of `codes`, chosen at random).
    public var failPercent: Double
    public var codes: [Int]
    /// Percent of watches answered with 410 Gone.
    public var gonePercent: Int
    /// Each request waits a random 0...this many milliseconds.
    public var latencyMaxMilliseconds: Int

    public init(seed: UInt64, failPercent: Double = 0, codes: [Int] = [429, 500, 503], gonePercent: Int = 0, latencyMaxMilliseconds: Int = 0) {
        self.seed = seed
        self.failPercent = failPercent
        self.codes = codes.filter(FaultRule.codes.contains)
        self.gonePercent = gonePercent
        self.latencyMaxMilliseconds = latencyMaxMilliseconds
    }
}


/// Which requests a fault fails: every field that is set must match (nil matches anything;
/// `subresource` "" is the object itself).
public struct FaultRule: Sendable, Equatable {
    /// Status codes a fault may answer with.
    public static let codes: Set<Int> = [429, 500, 503]

    /// What the router knows of a request when it asks for its fault.
    public struct Request: Sendable, Equatable {
        public var verb: String
        public var resource: String
        public var subresource: String
        public var namespace: String
        public var name: String
    }

    /// Kubernetes verbs: get, list, watch, create, update, patch, delete, deletecollection.
    public var verb: String?
    /// The plural resource name (`repositories`).
    public var resource: String?
    public var subresource: String?
    public var namespace: String?
    public var name: String?
    public var count: Int
    public var code: Int
    public var retryAfterSeconds: Int

    public init(
        verb: String? = nil, resource: String? = nil, subresource: String? = nil, namespace: String? = nil,
        name: String? = nil, count: Int = 1, code: Int = 503, retryAfterSeconds: Int = 0
    ) {
        self.verb = verb
        self.resource = resource
        self.subresource = subresource
        self.namespace = namespace
        self.name = name
        self.count = max(0, count)
        self.code = code
        self.retryAfterSeconds = retryAfterSeconds
    }

    func matches(_ request: Request) -> Bool {
        (verb == nil || verb == request.verb) && (resource == nil || resource == request.resource)
            && (subresource == nil || subresource == request.subresource)
            && (namespace == nil || namespace == request.namespace) && (name == nil || name == request.name)
    }
}
