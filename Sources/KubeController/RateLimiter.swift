/// client-go's default controller rate limiter: the larger of a per-key exponential backoff
/// (`ItemExponentialFailureRateLimiter`, 5 ms doubling up to 1000 s) and an overall token bucket
/// (10 requests per second, burst 100) shared by every key, so a storm of failing keys cannot
/// hammer the API server while a single failing key still backs off on its own.
///
/// A value type: the work queue keeps it under its lock.
public struct ControllerRateLimiter: Sendable {
    public var baseDelay: Duration
    public var maxDelay: Duration
    /// Tokens added per second to the shared bucket.
    public var qps: Double
    /// Bucket size: how many retries may pass at once before the bucket rate applies.
    public var burst: Int

    private var failures: [ObjectKey: Int] = [:]
    private var tokens: Double
    private var lastRefill: ContinuousClock.Instant?

    public init(
        baseDelay: Duration = .milliseconds(5), maxDelay: Duration = .seconds(1000), qps: Double = 10,
        burst: Int = 100
    ) {
        self.baseDelay = baseDelay
        self.maxDelay = maxDelay
        self.qps = qps
        self.burst = burst
        self.tokens = Double(burst)
    }

    /// How long `key` should wait before its next retry; counts one more failure for it.
    public mutating func when(_ key: ObjectKey, now: ContinuousClock.Instant = .now) -> Duration {
        let exponential = nextExponentialDelay(for: key)
        let bucket = reserveToken(now: now)
        return max(exponential, bucket)
    }

    /// How many times `key` has failed since it was last forgotten.
    public func retries(_ key: ObjectKey) -> Int { failures[key] ?? 0 }

    /// Resets the backoff of `key` (after a successful reconcile).
    public mutating func forget(_ key: ObjectKey) { failures.removeValue(forKey: key) }

    private mutating func nextExponentialDelay(for key: ObjectKey) -> Duration {
        let exponent = failures[key] ?? 0
        failures[key] = exponent + 1
        // baseDelay * 2^exponent, computed in Double to avoid overflow, capped at maxDelay.
        let base = baseDelay.seconds
        let seconds = base * pow2(exponent)
        if !seconds.isFinite || seconds >= maxDelay.seconds { return maxDelay }
        return .nanoseconds(Int64(seconds * 1e9))
    }

    /// A token bucket reservation (golang.org/x/time/rate's `Reserve().Delay()`): takes one token,
    /// possibly going into debt, and returns how long until that token exists.
    private mutating func reserveToken(now: ContinuousClock.Instant) -> Duration {
        guard qps > 0 else { return .zero }
        if let lastRefill {
            let elapsed = (now - lastRefill).seconds
            tokens = min(Double(burst), tokens + elapsed * qps)
        }
        lastRefill = now
        tokens -= 1
        if tokens >= 0 { return .zero }
        return .nanoseconds(Int64(-tokens / qps * 1e9))
    }

    private func pow2(_ exponent: Int) -> Double {
        exponent > 1023 ? .infinity : Double(sign: .plus, exponent: exponent, significand: 1)
    }
}

extension Duration {
    /// The duration in seconds as a floating-point number.
    var seconds: Double {
        let (s, atto) = components
        return Double(s) + Double(atto) / 1e18
    }

    /// A duration from seconds as a floating-point number.
    static func seconds(double seconds: Double) -> Duration {
        .nanoseconds(Int64(max(0, seconds) * 1e9))
    }
}
