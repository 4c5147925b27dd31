import KubeTestSupport
import Testing

@testable import KubeController

@Suite struct WorkQueueTests {
    @Test func aKeyAddedManyTimesWhileWaitingIsHandedOutOnce() async throws {
        let queue = WorkQueue(name: "dedup")
        let key = ObjectKey(namespace: "ns", name: "a")
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<100 { group.addTask { queue.add(key) } }
        }
        #expect(queue.depth == 1)
        let first = await queue.get()
        #expect(first == key)
        #expect(queue.depth == 0)
        queue.done(key)
        #expect(queue.depth == 0)
        queue.shutDown()
        #expect(await queue.get() == nil)
    }

    /// Busy while a key waits or is held, and for `settle` after the last one was done.
    @Test func busyCoversWaitingHeldAndJustDoneKeys() async throws {
        let queue = WorkQueue(name: "busy")
        let key = ObjectKey(namespace: "ns", name: "a")
        #expect(!queue.isBusy(settle: .seconds(600)), "nothing was ever done")
        queue.add(key)
        #expect(queue.isBusy())
        _ = await queue.get()
        #expect(queue.isBusy())
        queue.done(key)
        #expect(!queue.isBusy())
        #expect(queue.isBusy(settle: .seconds(600)))
        queue.shutDown()
    }

    @Test func aKeyAddedWhileProcessingIsRunAgainAfterDone() async throws {
        let queue = WorkQueue(name: "dirty")
        let key = ObjectKey(namespace: "ns", name: "a")
        queue.add(key)
        let got = await queue.get()
        #expect(got == key)
        queue.add(key)
        queue.add(key)
        #expect(queue.depth == 0, "a key in process must not be handed to a second worker")
        queue.done(key)
        #expect(queue.depth == 1)
        #expect(await queue.get() == key)
        queue.done(key)
        #expect(queue.depth == 0)
    }

    /// 100 concurrent enqueues of a few keys, 8 workers: no key is ever held by two workers, and
    /// every key is processed after its last add.
    @Test func concurrentEnqueuesNeverRunOneKeyOnTwoWorkers() async throws {
        let queue = WorkQueue(name: "workers")
        let keys = (0..<5).map { ObjectKey(namespace: "ns", name: "k\($0)") }
        struct Seen {
            var inFlight: Set<ObjectKey> = []
            var overlaps = 0
            var runs: [ObjectKey: Int] = [:]
            var addsDone = false
            var processedAfterLastAdd: Set<ObjectKey> = []
        }
        let seen = Box(Seen())
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<8 {
                group.addTask {
                    while let key = await queue.get() {
                        let addsDone = seen.update { s in
                            if !s.inFlight.insert(key).inserted { s.overlaps += 1 }
                            s.runs[key, default: 0] += 1
                            return s.addsDone
                        }
                        await Task.yield()
                        seen.update { s in
                            s.inFlight.remove(key)
                            if addsDone { s.processedAfterLastAdd.insert(key) }
                        }
                        queue.done(key)
                    }
                }
            }
            await withTaskGroup(of: Void.self) { adders in
                for i in 0..<100 { adders.addTask { queue.add(keys[i % keys.count]) } }
            }
            // Every key is added once more after all concurrent adds; each must run after it.
            seen.update { $0.addsDone = true }
            for key in keys { queue.add(key) }
            try await waitUntil("every key processed after its last add") {
                let s = seen.update { $0 }
                return (
                    s.processedAfterLastAdd.count == keys.count,
                    "processed after last add: \(s.processedAfterLastAdd.sorted())"
                )
            }
            queue.shutDown()
            try await group.waitForAll()
        }
        let final = seen.update { $0 }
        #expect(final.overlaps == 0)
        #expect(final.runs.values.reduce(0, +) <= 100 + keys.count)
        #expect(Set(final.runs.keys) == Set(keys))
    }

    @Test func addAfterHandsOutTheKeyOnceItsTimeCame() async throws {
        let queue = WorkQueue(name: "delayed")
        let key = ObjectKey(namespace: "ns", name: "later")
        let other = ObjectKey(namespace: "ns", name: "never")
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await queue.run() }
            let start = ContinuousClock.now
            queue.addAfter(other, .seconds(3600))
            queue.addAfter(key, .milliseconds(200))
            queue.addAfter(key, .seconds(3600))  // a later time for the same key does not postpone it
            #expect(queue.delayedCount == 2)
            let got = await queue.get()
            #expect(got == key)
            #expect(ContinuousClock.now - start >= .milliseconds(200))
            #expect(queue.delayedCount == 1)
            queue.done(key)
            queue.shutDown()
        }
    }

    @Test func shutDownReleasesWaitingWorkersAndDrainWaitsForInFlight() async throws {
        let queue = WorkQueue(name: "shutdown")
        let key = ObjectKey(namespace: "ns", name: "a")
        queue.add(key)
        let held = await queue.get()
        #expect(held == key)
        let drained = Box(false)
        await withTaskGroup(of: Void.self) { group in
            group.addTask { #expect(await queue.get() == nil) }
            group.addTask {
                await queue.drain()
                drained.update { $0 = true }
            }
            queue.shutDown()
            queue.add(ObjectKey(namespace: "ns", name: "b"))
            #expect(queue.depth == 0, "adds after shutdown are ignored")
            #expect(queue.processingCount == 1)
            #expect(drained.update { $0 } == false, "drain must wait for the key in process")
            queue.done(key)
            await group.waitForAll()
        }
        #expect(drained.update { $0 })
    }

    @Test func cancellingAWaitingGetReturnsNil() async throws {
        let queue = WorkQueue(name: "cancel")
        let task = Task { await queue.get() }
        task.cancel()
        #expect(await task.value == nil)
    }

    @Test func rateLimitedRetriesBackOffAndForgetResets() async throws {
        let queue = WorkQueue(
            name: "retries", rateLimiter: ControllerRateLimiter(baseDelay: .milliseconds(5)))
        let key = ObjectKey(namespace: "ns", name: "failing")
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await queue.run() }
            for attempt in 1...3 {
                queue.addRateLimited(key)
                #expect(queue.retries(key) == attempt)
                let got = await queue.get()
                #expect(got == key)
                queue.done(key)
            }
            queue.forget(key)
            #expect(queue.retries(key) == 0)
            queue.shutDown()
        }
    }
}

@Suite struct RateLimiterTests {
    @Test func perKeyBackoffDoublesFrom5msTo1000s() {
        var limiter = ControllerRateLimiter(qps: 0)  // bucket off: the exponential part alone
        let key = ObjectKey(namespace: "ns", name: "a")
        let delays = (0..<5).map { _ in limiter.when(key) }
        #expect(
            delays == [
                .milliseconds(5), .milliseconds(10), .milliseconds(20), .milliseconds(40), .milliseconds(80),
            ])
        for _ in 0..<40 { _ = limiter.when(key) }
        #expect(limiter.when(key) == .seconds(1000))
        #expect(limiter.retries(key) == 46)
        // Another key has its own backoff.
        #expect(limiter.when(ObjectKey(namespace: "ns", name: "b")) == .milliseconds(5))
        limiter.forget(key)
        #expect(limiter.retries(key) == 0)
        #expect(limiter.when(key) == .milliseconds(5))
    }

    @Test func theSharedBucketAllowsABurstOf100ThenTenPerSecond() {
        var limiter = ControllerRateLimiter()
        let now = ContinuousClock.now
        for i in 0..<100 {
            #expect(limiter.when(ObjectKey(namespace: "ns", name: "k\(i)"), now: now) == .milliseconds(5))
        }
        // The bucket is empty: the 101st and 102nd distinct keys wait 100 ms and 200 ms.
        #expect(limiter.when(ObjectKey(namespace: "ns", name: "x"), now: now) == .milliseconds(100))
        #expect(limiter.when(ObjectKey(namespace: "ns", name: "y"), now: now) == .milliseconds(200))
        // A second later ten tokens came back (the debt of two is paid, eight remain).
        let later = now.advanced(by: .seconds(1))
        #expect(limiter.when(ObjectKey(namespace: "ns", name: "z"), now: later) == .milliseconds(5))
    }
}
