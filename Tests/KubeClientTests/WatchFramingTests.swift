import KubeJSON
import Testing

@testable import KubeClient

@Suite struct WatchFramingTests {
    static let events: [String] = [
        #"{"type":"ADDED","object":{"kind":"Secret","metadata":{"name":"a","resourceVersion":"1"}}}"#,
        #"{"type":"MODIFIED","object":{"kind":"Secret","metadata":{"name":"a","resourceVersion":"2"},"data":{"k":"dmFsdWUgd2l0aCBcbiBuZXdsaW5l"}}}"#,
        #"{"type":"BOOKMARK","object":{"kind":"Secret","metadata":{"resourceVersion":"3"}}}"#,
        #"{"type":"DELETED","object":{"kind":"Secret","metadata":{"name":"a","resourceVersion":"4"},"note":"multi\nline in a string"}}"#,
    ]
    static var stream: [UInt8] { Array(events.joined(separator: "\n").utf8) + [UInt8(ascii: "\n")] }

    /// Feeds `chunks` through a framer and decodes every event.
    func decodeAll(_ chunks: [ArraySlice<UInt8>]) throws -> [WatchEvent] {
        var framer = WatchLineFramer()
        var events: [WatchEvent] = []
        for chunk in chunks {
            framer.append(chunk)
            while let line = framer.nextLine() { events.append(try WatchEvent.decode(line)) }
        }
        if let rest = framer.remainder() { events.append(try WatchEvent.decode(rest)) }
        return events
    }

    func expected() throws -> [WatchEvent] {
        try Self.events.map { try WatchEvent.decode(Array($0.utf8)) }
    }

    @Test func everySingleSplitPointYieldsTheSameEvents() throws {
        let bytes = Self.stream
        let expected = try expected()
        #expect(expected.count == 4)
        for split in 0...bytes.count {
            let events = try decodeAll([bytes[0..<split], bytes[split...]])
            #expect(events == expected, "split at \(split)")
        }
    }

    @Test func randomChunkingYieldsTheSameEvents() throws {
        let bytes = Self.stream
        let expected = try expected()
        var generator = SplitMix64(seed: 42)
        for _ in 0..<300 {
            var chunks: [ArraySlice<UInt8>] = []
            var index = 0
            while index < bytes.count {
                let size = Int(generator.next() % 40) + 1
                let end = min(bytes.count, index + size)
                chunks.append(bytes[index..<end])
                index = end
            }
            #expect(try decodeAll(chunks) == expected)
        }
    }

    @Test func byteByByteAndAllInOneChunk() throws {
        let bytes = Self.stream
        let expected = try expected()
        #expect(try decodeAll(bytes.indices.map { bytes[$0...$0] }) == expected)
        #expect(try decodeAll([bytes[...]]) == expected)
    }

    @Test func crlfBlankLinesAndMissingFinalNewline() throws {
        let text = "\r\n" + Self.events[0] + "\r\n\n  \n" + Self.events[2]
        let events = try decodeAll([Array(text.utf8)[...]])
        #expect(events.count == 2)
        #expect(events[1] == .bookmark(resourceVersion: "3"))
    }

    @Test func goneErrorEventThrowsAndOtherErrorsAreEvents() throws {
        let gone =
            #"{"type":"ERROR","object":{"kind":"Status","apiVersion":"v1","status":"Failure","code":410,"reason":"Expired","message":"too old resource version: 1 (5)"}}"#
        #expect {
            _ = try WatchEvent.decode(Array(gone.utf8))
        } throws: { error in
            (error as? KubeError)?.isGone == true
        }
        let other =
            #"{"type":"ERROR","object":{"kind":"Status","code":500,"reason":"InternalError","message":"boom"}}"#
        #expect(
            try WatchEvent.decode(Array(other.utf8))
                == .error(APIStatus(code: 500, status: nil, reason: "InternalError", message: "boom")))
        #expect(throws: KubeError.self) {
            _ = try WatchEvent.decode(Array(#"{"type":"WHAT","object":{}}"#.utf8))
        }
        #expect(throws: KubeError.self) { _ = try WatchEvent.decode(Array("{not json".utf8)) }
    }
}

