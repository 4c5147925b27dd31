import KubeJSON
import Testing

@testable import KubeAPIServer

@Suite("Watch mailbox")
struct WatchMailboxTests {
    static func event(_ revision: Int64) -> StoredEvent {
        StoredEvent(type: "MODIFIED", resourceKey: "v1/configmaps", object: ["n": .int(revision)], old: nil, revision: revision)
    }

    @Test("events added while the connection writes go out together, oldest first")
    func burstIsTakenAtOnce() async {
        let mailbox = WatchMailbox(limit: 10, initial: [Self.event(1), Self.event(2)])
        for revision in Int64(3)...5 { #expect(mailbox.add(Self.event(revision))) }
        #expect(await mailbox.next()?.map(\.revision) == [1, 2, 3, 4, 5])
        // Nothing waiting: the next event is handed over as soon as it is added.
        async let waiting = mailbox.next()
        #expect(mailbox.add(Self.event(6)))  // before or after the wait began: the same answer
        let next = await waiting
        #expect(next?.map(\.revision) == [6])
    }

    @Test("a long backlog goes out in chunks of at most batchLimit events, in order")
    func longBacklogIsChunked() async {
        let count = WatchMailbox.batchLimit * 2 + 3
        let mailbox = WatchMailbox(limit: count, initial: (1...Int64(count)).map(Self.event))
        var sizes: [Int] = []
        var revisions: [Int64] = []
        mailbox.finish()
        while let batch = await mailbox.next() {
            sizes.append(batch.count)
            revisions += batch.map(\.revision)
        }
        #expect(sizes == [WatchMailbox.batchLimit, WatchMailbox.batchLimit, 3])
        #expect(revisions == Array(1...Int64(count)))
    }

    @Test("a watcher that does not take its events is refused past the limit")
    func limitRefuses() async {
        let mailbox = WatchMailbox(limit: 2)
        #expect(mailbox.add(Self.event(1)))
        #expect(mailbox.add(Self.event(2)))
        #expect(!mailbox.add(Self.event(3)))
        #expect(await mailbox.next()?.map(\.revision) == [1, 2])
        #expect(mailbox.add(Self.event(4)))
    }

    @Test("finish hands out what is waiting, then ends; a cancelled wait ends too")
    func finishAndCancel() async {
        let mailbox = WatchMailbox(limit: 10)
        #expect(mailbox.add(Self.event(1)))
        mailbox.finish()
        #expect(!mailbox.add(Self.event(2)))
        #expect(await mailbox.next()?.map(\.revision) == [1])
        #expect(await mailbox.next() == nil)

        let idle = WatchMailbox(limit: 10)
        let waiter = Task { await idle.next() }
        waiter.cancel()
        #expect(await waiter.value == nil)
        #expect(!idle.add(Self.event(1)), "a cancelled wait finishes the mailbox")
    }
}

/// A request target's path and query, percent-decoded ('+' is a space in the query only).
@Suite struct RequestTargetTests {
    @Test func pathAndQueryAreDecodedAndPlainOnesKeptAsTheyAre() {
        let (path, query) = APIRequest.split(
            uri: "/api/v1/namespaces/a%20b/pods?labelSelector=app%3Dx%2Cy&fieldSelector=a+b&watch=true&x&watch=false")
        #expect(path == "/api/v1/namespaces/a b/pods")
        #expect(query == ["labelSelector": "app=x,y", "fieldSelector": "a b", "watch": "true", "x": ""])
        let plain = APIRequest.split(uri: "/apis/kubesnap.io/v1alpha1/namespaces/demo/snapshots/a+b?limit=500")
        #expect(plain.path == "/apis/kubesnap.io/v1alpha1/namespaces/demo/snapshots/a+b", "'+' stays in a path")
        #expect(plain.query == ["limit": "500"])
        #expect(APIRequest.split(uri: "/bad%zzescape").path == "/bad%zzescape", "an invalid escape is kept")
    }
}
