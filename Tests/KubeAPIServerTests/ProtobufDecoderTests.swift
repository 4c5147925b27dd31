import Foundation
import KubeJSON
import Testing

@testable import KubeAPIServer

/// The protobuf decoder on hand-built and mutated bodies.
@Suite("protobuf decoder")
struct ProtobufDecoderTests {
    static func varint(_ v: UInt64) -> [UInt8] {
        var v = v, out: [UInt8] = []
        while v >= 0x80 { out.append(UInt8(v & 0x7F) | 0x80); v >>= 7 }
        out.append(UInt8(v))
        return out
    }
    static func field(_ n: Int, _ bytes: [UInt8]) -> [UInt8] { varint(UInt64(n << 3 | 2)) + varint(UInt64(bytes.count)) + bytes }
    static func field(_ n: Int, _ s: String) -> [UInt8] { field(n, Array(s.utf8)) }
    static func envelope(_ apiVersion: String, _ kind: String, _ raw: [UInt8]) -> [UInt8] {
        ProtobufTranscoder.magic + field(1, field(1, apiVersion) + field(2, kind)) + field(2, raw)
    }

    /// A Secret as client-go writes it: metadata{name, namespace, creationTimestamp{}}, data, type.
    static let secretRaw: [UInt8] =
        field(1, field(1, "pw") + field(3, "demo") + field(8, []))
        + field(2, field(1, "password") + field(2, Array("p".utf8))) + field(3, "Opaque")
    static let secret: [UInt8] = envelope("v1", "Secret", secretRaw)

    @Test func secretDecodesLikeItsJSON() throws {
        let object = try ProtobufTranscoder.decodeBody(Self.secret)
        let want = try JSONValue.parse(#"{"apiVersion":"v1","kind":"Secret","metadata":{"name":"pw","namespace":"demo","creationTimestamp":null},"data":{"password":"cA=="},"type":"Opaque"}"#)
        #expect(object == want)
    }

    @Test func unknownFieldsAndTruncationAreErrors() throws {
        let unknown = Self.envelope("v1", "Secret", Self.field(1, Self.field(99, "x")))
        #expect(throws: ProtobufError.self) { try ProtobufTranscoder.decodeBody(unknown) }
        do { _ = try ProtobufTranscoder.decodeBody(unknown) } catch { #expect(error.message.contains("ObjectMeta: unknown field number 99"), "\(error.message)") }
        // A cut inside the raw object runs past its declared length (a cut between envelope
        // fields is a shorter valid message, so it is not tried).
        for cut in (Self.secret.count - Self.secretRaw.count)..<Self.secret.count {
            #expect(throws: ProtobufError.self, "cut at \(cut)") { try ProtobufTranscoder.decodeBody(Array(Self.secret[0..<cut])) }
        }
        let huge = ProtobufTranscoder.magic + [0x12] + Self.varint(UInt64.max >> 1)
        #expect(throws: ProtobufError.self) { try ProtobufTranscoder.decodeBody(huge) }
    }

    @Test func goDurationAndTimeFormats() {
        #expect(ProtobufTranscoder.goDuration(3_600_000_000_000) == "1h0m0s")
        #expect(ProtobufTranscoder.goDuration(1_500_000_000) == "1.5s")
        #expect(ProtobufTranscoder.goDuration(2_000_000) == "2ms")
        #expect(ProtobufTranscoder.formatTime(seconds: 1_700_000_000, nanos: 0, micro: false) == "2023-11-14T22:13:20Z")
        #expect(ProtobufTranscoder.formatTime(seconds: 1_700_000_000, nanos: 123_456_789, micro: true) == "2023-11-14T22:13:20.123456Z")
    }

    /// Seeded random mutations (flipped bytes, truncations, inserted huge lengths) of real-shaped
    /// bodies, for a bounded time: each gives an object or a ProtobufError, never a crash.
    @Test func seededMutationFuzz() {
        var rng = SplitMix64(seed: 0x6B38_7300)
        let corpus = [Self.secret, Self.envelope("apps/v1", "Deployment", Self.field(1, Self.field(1, "web")) + Self.field(2, Self.field(3, Self.field(2, Self.field(2, Self.field(1, "c") + Self.field(2, "nginx"))))))]
        let deadline = Date().addingTimeInterval(3)
        var runs = 0, objects = 0, errors = 0
        while Date() < deadline {
            var body = corpus[Int(rng.next() % UInt64(corpus.count))]
            for _ in 0..<(1 + rng.next() % 4) {
                let at = 4 + Int(rng.next() % UInt64(max(1, body.count - 4)))
                switch rng.next() % 4 {
                case 0: if at < body.count { body[at] ^= UInt8(truncatingIfNeeded: rng.next() | 1) }
                case 1: body = Array(body[0..<min(at, body.count)])
                case 2: body.insert(contentsOf: Self.varint(rng.next()), at: min(at, body.count))
                default: body.insert(UInt8(truncatingIfNeeded: rng.next()), at: min(at, body.count))
                }
            }
            do { _ = try ProtobufTranscoder.decodeBody(body); objects += 1 } catch { #expect(!error.message.isEmpty); errors += 1 }
            runs += 1
        }
        #expect(runs > 1000 && errors > 0, "runs \(runs), objects \(objects), errors \(errors)")
    }
}

