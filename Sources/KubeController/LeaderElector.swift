import Foundation
import KubeClient
import KubeJSON
import Logging

/// Leader election settings (controller-runtime's defaults: 15 s / 10 s / 2 s).
public struct LeaderElectionConfiguration: Sendable {
    public var namespace: String
    /// The coordination.k8s.io/v1 Lease's name.
    public var leaseName: String
    /// This replica's `holderIdentity`: hostname plus a random suffix by default.
    public var identity: String
    /// How long a lease is valid without renewal, as seen by the other candidates.
    public var leaseDuration: Duration = .seconds(15)
    /// The leader stops leading if it could not renew for this long (must be < leaseDuration).
    public var renewDeadline: Duration = .seconds(10)
    /// How often candidates try to acquire and the leader renews.
    public var retryPeriod: Duration = .seconds(2)

    public init(
        namespace: String, leaseName: String, identity: String = LeaderElectionConfiguration.defaultIdentity()
    ) {
        self.namespace = namespace
        self.leaseName = leaseName
        self.identity = identity
    }

    /// `hostname_` plus 8 random hex digits, so two processes on one host differ.
    public static func defaultIdentity() -> String {
        let suffix = String(UInt32.random(in: 0...UInt32.max), radix: 16)
        return
            "\(Hostname.current)_\(String(repeating: "0", count: 8 - suffix.count))\(suffix)"
    }
}

/// Campaigns for a Lease and runs work only while holding it (client-go's leaderelection with
/// a LeaseLock and ReleaseOnCancel):
///
/// - a candidate acquires the lease when it is absent, released (empty holder), or expired: its
///   record did not change for `leaseDuration` as timed by this replica's own clock (no trust
///   in other clocks);
/// - the leader renews every `retryPeriod` with an update on resourceVersion; if it cannot renew
///   within `renewDeadline`, the work is cancelled at once and it campaigns again;
/// - when the work ends (graceful shutdown or cancellation), the lease is released (empty
///   holder, leaseDurationSeconds 1) so a standby takes over within one retry period.
public final class LeaderElector: Sendable {
    public let configuration: LeaderElectionConfiguration
    private let client: KubeClient
    private let logger: Logger
    private let statusMetric: MetricFamily?

    private struct State {
        var isLeader = false
        var observedSpec: JSONValue = .null
        var observedAt: ContinuousClock.Instant = .now
        var acquisitions = 0
    }

    private let state = Locked(State())

    public init(
        client: KubeClient, configuration: LeaderElectionConfiguration, metrics: MetricsRegistry? = nil,
        logger: Logger = Logger(label: "controller.leader-election")
    ) {
        self.client = client
        self.configuration = configuration
        var logger = logger
        logger[metadataKey: "lease"] = "\(configuration.namespace)/\(configuration.leaseName)"
        logger[metadataKey: "identity"] = "\(configuration.identity)"
        self.logger = logger
        self.statusMetric = metrics?.gauge(
            "leader_election_master_status", help: "1 while this replica leads, 0 otherwise", labels: ["name"]
        )
        statusMetric?.set(0, configuration.leaseName)
    }

    public var isLeader: Bool { state.withLock { $0.isLeader } }

    /// How many times this replica became leader.
    public var acquisitions: Int { state.withLock { $0.acquisitions } }

    /// Campaigns and runs `body` while leading, until `stop` opens or the task is cancelled;
    /// either way the lease is released once `body` returned. `body` is cancelled at once when
    /// leadership is lost; the elector then campaigns again.
    public func run(until stop: Latch, whileLeading body: @escaping @Sendable () async -> Void) async {
        var held = false
        while !Task.isCancelled && !stop.isOpen {
            guard await acquire(until: stop) else { break }
            held = true
            setLeader(true)
            logger.info("became leader")
            let lost = await withTaskGroup(of: Bool.self) { group in
                group.addTask {
                    await body()
                    return false
                }
                group.addTask { await self.renewUntilLost() }
                let first = await group.next() ?? false
                group.cancelAll()
                await group.waitForAll()
                return first
            }
            setLeader(false)
            if lost {
                logger.error("leadership lost: could not renew the lease in time; stopped reconciling")
                continue
            }
            break
        }
        // Released also when the stop came while campaigning again after a missed renewal: the
        // lease may still name this replica (release checks), and a standby would wait it out.
        guard held else { return }
        if Task.isCancelled {
            // A cancelled task cannot make requests; release from a fresh (not detached) task so
            // a standby still takes over within a retry period.
            await Task { await self.release() }.value
        } else {
            await release()
        }
    }

    // MARK: - campaign

    private func acquire(until stop: Latch) async -> Bool {
        while !Task.isCancelled && !stop.isOpen {
            do {
                if try await tryAcquireOrRenew() { return true }
            } catch {
                logger.info("cannot acquire the lease yet", metadata: ["error": "\(error)"])
            }
            await stop.wait(atMost: configuration.retryPeriod)
        }
        return false
    }

    /// Returns true when leadership is lost (false if cancelled while still holding).
    private func renewUntilLost() async -> Bool {
        var lastRenew = ContinuousClock.now
        while !Task.isCancelled {
            do { try await Task.sleep(for: configuration.retryPeriod) } catch { return false }
            let deadline = lastRenew.advanced(by: configuration.renewDeadline)
            let renewed = await withTaskGroup(of: Bool?.self) { group in
                // A failed renewal is a renewal not made: retried each retryPeriod until the
                // renew deadline, then the lease is given up (and logged) below.
                group.addTask { (try? await self.tryAcquireOrRenew()) ?? false }
                group.addTask {
                    do { try await Task.sleep(until: deadline, clock: .continuous) } catch { return nil }
                    return false
                }
                var result = false
                while let next = await group.next() {
                    if let next {
                        result = next
                        break
                    }
                }
                group.cancelAll()
                return result
            }
            if Task.isCancelled { return false }
            if renewed {
                lastRenew = .now
            } else if ContinuousClock.now >= deadline {
                return true
            } else {
                logger.warning("lease renewal failed; retrying until the renew deadline")
            }
        }
        return false
    }

    /// One get + create/update of the lease; true if this replica holds it afterwards.
    private func tryAcquireOrRenew() async throws(KubeError) -> Bool {
        let config = configuration
        let now = RFC3339.format(Date(), fractionalSeconds: true)  // metav1.MicroTime
        let leaseSeconds = Int64(max(1, config.leaseDuration.components.seconds))
        let lease: JSONValue
        do {
            lease = try await client.get(.leases, namespace: config.namespace, name: config.leaseName)
        } catch {
            guard error.isNotFound else { throw error }
            let spec: JSONValue = [
                "holderIdentity": .string(config.identity), "leaseDurationSeconds": .int(leaseSeconds),
                "acquireTime": .string(now), "renewTime": .string(now),
                "leaseTransitions": 0,
            ]
            let object: JSONValue = [
                "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                "metadata": ["name": .string(config.leaseName), "namespace": .string(config.namespace)],
                "spec": spec,
            ]
            do {
                _ = try await client.create(.leases, namespace: config.namespace, object)
            } catch {
                if error.isAlreadyExists { return false }
                throw error
            }
            observe(spec, at: .now)
            return true
        }
        let spec = lease["spec"]
        let holder = spec["holderIdentity"].stringValue ?? ""
        let observedAt = observe(spec, at: .now)
        let duration = Duration.seconds(spec["leaseDurationSeconds"].intValue ?? leaseSeconds)
        if !holder.isEmpty && holder != config.identity
            && ContinuousClock.now < observedAt.advanced(by: duration)
        {
            return false  // held by another replica and not expired
        }
        var newSpec = spec
        newSpec["holderIdentity"] = .string(config.identity)
        newSpec["leaseDurationSeconds"] = .int(leaseSeconds)
        newSpec["renewTime"] = .string(now)
        if holder != config.identity {
            newSpec["acquireTime"] = .string(now)
            newSpec["leaseTransitions"] = .int((spec["leaseTransitions"].intValue ?? 0) + 1)
        }
        var updated = lease
        updated["spec"] = newSpec
        do {
            _ = try await client.update(.leases, namespace: config.namespace, updated)
        } catch {
            if error.isConflict { return false }
            throw error
        }
        observe(newSpec, at: .now)
        return true
    }

    /// Records the lease record as seen now; returns when it was first seen unchanged.
    @discardableResult
    private func observe(_ spec: JSONValue, at now: ContinuousClock.Instant) -> ContinuousClock.Instant {
        state.withLock { state in
            if state.observedSpec != spec {
                state.observedSpec = spec
                state.observedAt = now
            }
            return state.observedAt
        }
    }

    /// Gives the lease up (client-go's ReleaseOnCancel): empty holder, 1 s duration.
    ///
    /// A renewal cancelled with the work may still land after the lease was read here (its
    /// write makes this one conflict), and a loaded server may time a request out: either way
    /// the lease is read and written again, up to 5 times, rather than leaving the standby to
    /// wait out the whole lease.
    private func release() async {
        let config = configuration
        for attempt in 1...5 {
            do {
                var lease = try await client.get(.leases, namespace: config.namespace, name: config.leaseName)
                guard lease["spec"]["holderIdentity"].stringValue == config.identity else { return }
                let now = RFC3339.format(Date(), fractionalSeconds: true)
                lease["spec"]["holderIdentity"] = ""
                lease["spec"]["leaseDurationSeconds"] = 1
                lease["spec"]["renewTime"] = .string(now)
                lease["spec"]["acquireTime"] = .string(now)
                _ = try await client.update(.leases, namespace: config.namespace, lease)
                logger.info("released the lease")
                return
            } catch {
                if !error.isNotFound && attempt < 5 {
                    if !error.isConflict { try? await Task.sleep(for: configuration.retryPeriod) }  // cancelled: try at once
                    continue
                }
                logger.warning(
                    "cannot release the lease; a standby takes over once it expires",
                    metadata: ["error": "\(error)"])
                return
            }
        }
    }

    private func setLeader(_ leading: Bool) {
        state.withLock { state in
            state.isLeader = leading
            if leading { state.acquisitions += 1 }
        }
        statusMetric?.set(leading ? 1 : 0, configuration.leaseName)
    }
}
