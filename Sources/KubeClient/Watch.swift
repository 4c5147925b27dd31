import CurlTransport
import KubeJSON

/// One event of a watch.
public enum WatchEvent: Sendable, Hashable {
    case added(JSONValue)
    case modified(JSONValue)
    case deleted(JSONValue)
    /// The server has sent everything up to this resourceVersion (no object change).
    case bookmark(resourceVersion: String)
    /// An ERROR event other than 410 Gone (410 is thrown as `KubeError.api`, `isGone`).
    case error(APIStatus)

    /// The object of an added/modified/deleted event.
    public var object: JSONValue? {
        switch self {
        case .added(let o), .modified(let o), .deleted(let o): return o
        case .bookmark, .error: return nil
        }
    }

    /// The resourceVersion to resume a watch from after this event.
    public var resourceVersion: String? {
        switch self {
        case .added(let o), .modified(let o), .deleted(let o): return o.resourceVersion
        case .bookmark(let rv): return rv
        case .error: return nil
        }
    }

    /// Decodes one watch line: `{"type":"ADDED","object":{...}}`.
    static func decode(_ line: some Collection<UInt8>) throws(KubeError) -> WatchEvent {
        let value: JSONValue
        do {
            value = try JSONValue.parse(line)
        } catch {
            throw .decoding("watch event is not JSON: \(error)")
        }
        let object = value["object"]
        switch value["type"].stringValue {
        case "ADDED": return .added(object)
        case "MODIFIED": return .modified(object)
        case "DELETED": return .deleted(object)
        case "BOOKMARK": return .bookmark(resourceVersion: object.resourceVersion ?? "")
        case "ERROR":
            let status =
                APIStatus(object)
                ?? APIStatus(
                    code: 500, reason: "InternalError", message: "watch ERROR event without a Status")
            let error = KubeError.api(status)
            if error.isGone { throw error }
            return .error(status)
        case let other:
            throw .decoding("watch event has an unknown type \(other ?? "(none)")")
        }
    }
}

/// Splits a watch response body into lines: one JSON object per line. Bytes are buffered until
/// a newline arrives, so an object split over many chunks is reassembled and a chunk holding
/// several objects yields each of them. Blank lines are skipped.
struct WatchLineFramer {
    private var buffer: [UInt8] = []
    /// Bytes before this index were handed out already.
    private var start = 0
    /// No newline before this index (avoids rescanning a long partial object).
    private var scanned = 0

    mutating func append(_ bytes: some Collection<UInt8>) {
        if start > 0 && start >= buffer.count / 2 {
            buffer.removeFirst(start)
            scanned -= start
            start = 0
        }
        buffer.append(contentsOf: bytes)
    }

    /// The next complete line (without its newline), or nil if none is complete yet.
    mutating func nextLine() -> ArraySlice<UInt8>? {
        while true {
            var index = max(start, scanned)
            while index < buffer.count && buffer[index] != UInt8(ascii: "\n") { index += 1 }
            guard index < buffer.count else {
                scanned = index
                return nil
            }
            var line = buffer[start..<index]
            start = index + 1
            scanned = start
            while let last = line.last,
                last == UInt8(ascii: "\r") || last == UInt8(ascii: " ") || last == UInt8(ascii: "\t")
            {
                line = line.dropLast()
            }
            if line.contains(where: { $0 != UInt8(ascii: " ") && $0 != UInt8(ascii: "\t") }) { return line }
        }
    }

    /// What is left when the body ended without a final newline (nil if only whitespace).
    mutating func remainder() -> ArraySlice<UInt8>? {
        let rest = buffer[start...]
        start = buffer.count
        scanned = start
        let isBlank = rest.allSatisfy { $0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09 }
        return isBlank ? nil : rest
    }
}

/// The events of a watch, as an `AsyncSequence`.
///
/// The request is sent when iteration starts (a retryable failure to start is retried like
/// any GET). The sequence ends (nil) when the server closes the watch (its `timeoutSeconds`,
/// a server restart); it throws `KubeError.api` with `isGone` for 410 Gone (HTTP 410 or an
/// ERROR event with code 410): relist, then watch again from the list's resourceVersion.
/// Cancelling the iterating task ends the transfer promptly and throws `.cancelled`.
public struct WatchStream: AsyncSequence, Sendable {
    public typealias Element = WatchEvent
    public typealias Failure = KubeError

    let client: KubeClient
    let request: RESTRequest

    public func makeAsyncIterator() -> Iterator {
        Iterator(client: client, request: request)
    }

    public struct Iterator: AsyncIteratorProtocol {
        public typealias Element = WatchEvent
        public typealias Failure = KubeError

        let client: KubeClient
        let request: RESTRequest
        private var transfer: OpenTransfer?
        private var framer = WatchLineFramer()
        private var finished = false

        init(client: KubeClient, request: RESTRequest) {
            self.client = client
            self.request = request
        }

        public mutating func next() async throws(KubeError) -> WatchEvent? {
            guard !finished else { return nil }
            do {
                return try await nextEvent()
            } catch {
                finished = true
                transfer = nil
                throw error
            }
        }

        private mutating func nextEvent() async throws(KubeError) -> WatchEvent? {
            let transfer: OpenTransfer
            if let open = self.transfer {
                transfer = open
            } else {
                transfer = try await client.openStream(request)
                self.transfer = transfer
            }
            while true {
                if let line = framer.nextLine() { return try WatchEvent.decode(line) }
                let chunk: [UInt8]?
                do {
                    chunk = try await transfer.nextChunk()
                } catch let failure as TransferFailure {
                    if failure.code == TransferFailure.cancelledCode { throw .cancelled }
                    guard failure.isConnectionBroken else {
                        throw .transport("watch \(request.path): \(failure.message)")
                    }
                    // The server dropped the connection mid-stream: like client-go, the
                    // watch just ends; the caller resumes from the last resourceVersion.
                    client.logger.debug(
                        "watch connection closed",
                        metadata: ["path": "\(request.path)", "error": "\(failure.message)"])
                    chunk = nil
                } catch {
                    throw .cancelled
                }
                guard let chunk else {
                    finished = true
                    self.transfer = nil
                    if let rest = framer.remainder() { return try WatchEvent.decode(rest) }
                    return nil
                }
                framer.append(chunk)
            }
        }
    }
}

/// A watch event with a decoded object.
public enum TypedWatchEvent<Object: KubeResource>: Sendable {
    case added(Object)
    case modified(Object)
    case deleted(Object)
    case bookmark(resourceVersion: String)
    case error(APIStatus)
}

/// A `WatchStream` whose objects are decoded as `Object`.
public struct TypedWatchStream<Object: KubeResource>: AsyncSequence, Sendable {
    public typealias Element = TypedWatchEvent<Object>
    public typealias Failure = KubeError

    let base: WatchStream

    public func makeAsyncIterator() -> Iterator { Iterator(base: base.makeAsyncIterator()) }

    public struct Iterator: AsyncIteratorProtocol {
        public typealias Element = TypedWatchEvent<Object>
        public typealias Failure = KubeError
        var base: WatchStream.Iterator

        public mutating func next() async throws(KubeError) -> TypedWatchEvent<Object>? {
            guard let event = try await base.next() else { return nil }
            switch event {
            case .added(let o): return .added(try KubeClient.decode(o, as: Object.self))
            case .modified(let o): return .modified(try KubeClient.decode(o, as: Object.self))
            case .deleted(let o): return .deleted(try KubeClient.decode(o, as: Object.self))
            case .bookmark(let rv): return .bookmark(resourceVersion: rv)
            case .error(let status): return .error(status)
            }
        }
    }
}
