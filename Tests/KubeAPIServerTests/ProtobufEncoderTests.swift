import Foundation
import KubeJSON
import Testing

@testable import KubeAPIServer

/// The protobuf encoder of replies: what it writes decodes back to the same JSON object.
@Suite("protobuf encoder")
struct ProtobufEncoderTests {
    /// Every member of `want` is in `got` with the same value (the decoder adds Go's zero values
    /// of absent fields, so `got` may hold more). Returns the first difference.
    static func difference(_ want: JSONValue, _ got: JSONValue, at path: String = "") -> String? {
        switch (want, got) {
        case (.object(let w), .object(let g)):
            for (key, value) in w.sorted(by: { $0.key < $1.key }) {
                guard let other = g[key] else { return "\(path).\(key) is missing" }
                if let d = difference(value, other, at: "\(path).\(key)") { return d }
            }
            return nil
        case (.array(let w), .array(let g)):
            guard w.count == g.count else { return "\(path): \(w.count) items, have \(g.count)" }
            for (i, pair) in zip(w, g).enumerated() {
                if let d = difference(pair.0, pair.1, at: "\(path)[\(i)]") { return d }
            }
            return nil
        default:
            return want == got ? nil : "\(path): want \(want), have \(got)"
        }
    }

    /// Objects of the kinds the tables hold, with every special form: times (seconds and
    /// micro), durations, quantities, int-or-strings, raw JSON (managedFields), maps, lists,
    /// negative and 64-bit numbers, bytes.
    static let objects: [String] = [
        #"{"apiVersion":"v1","kind":"Secret","metadata":{"name":"pw","namespace":"demo","uid":"u-1","resourceVersion":"7","creationTimestamp":"2026-12-07T10:00:00Z","labels":{"b":"2","a":"1"},"managedFields":[{"manager":"kubectl","operation":"Update","apiVersion":"v1","time":"2026-12-07T10:00:00Z","fieldsType":"FieldsV1","fieldsV1":{"f:data":{".":{},"f:password":{}}}}]},"data":{"password":"czNjcmV0"},"type":"Opaque"}"#,
        #"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"settings","namespace":"demo","finalizers":["x/y"],"deletionGracePeriodSeconds":0},"data":{"mode":"fast","level":"3"},"binaryData":{"blob":"AAEC"},"immutable":true}"#,
        #"{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web","namespace":"demo","generation":9007199254740993},"spec":{"replicas":2,"selector":{"matchLabels":{"app":"web"}},"strategy":{"type":"RollingUpdate","rollingUpdate":{"maxUnavailable":"25%","maxSurge":1}},"template":{"metadata":{"labels":{"app":"web"}},"spec":{"containers":[{"name":"web","image":"nginx:1.27","ports":[{"containerPort":80,"protocol":"TCP"}],"resources":{"limits":{"cpu":"500m","memory":"128Mi"}},"livenessProbe":{"httpGet":{"path":"/","port":"http"},"periodSeconds":10}}],"terminationGracePeriodSeconds":30}}},"status":{"observedGeneration":-1}}"#,
        #"{"apiVersion":"coordination.k8s.io/v1","kind":"Lease","metadata":{"name":"kubesnap","namespace":"kubesnap-system"},"spec":{"holderIdentity":"pod-a","leaseDurationSeconds":15,"acquireTime":"2026-12-07T10:00:00.123456Z","renewTime":"2026-12-07T10:00:05.000001Z","leaseTransitions":3}}"#,
        #"{"apiVersion":"rbac.authorization.k8s.io/v1","kind":"Role","metadata":{"name":"reader","namespace":"demo"},"rules":[{"verbs":["get","list"],"apiGroups":[""],"resources":["pods"]}]}"#,
        #"{"apiVersion":"batch/v1","kind":"Job","metadata":{"name":"once","namespace":"demo"},"spec":{"activeDeadlineSeconds":3600,"template":{"spec":{"containers":[{"name":"c","image":"busybox","command":["echo","hi"]}],"restartPolicy":"Never"}}}}"#,
        #"{"apiVersion":"v1","kind":"ConfigMapList","metadata":{"resourceVersion":"12","continue":"abc","remainingItemCount":4},"items":[{"metadata":{"name":"a","namespace":"demo"},"data":{"k":"v"}},{"metadata":{"name":"b","namespace":"demo"}}]}"#,
        #"{"apiVersion":"v1","kind":"Status","metadata":{},"status":"Failure","message":"secrets \"x\" not found","reason":"NotFound","details":{"name":"x","kind":"secrets","causes":[{"reason":"FieldValueInvalid","message":"bad","field":"spec.x"}]},"code":404}"#,
        #"{"apiVersion":"authorization.k8s.io/v1","kind":"SelfSubjectAccessReview","spec":{"resourceAttributes":{"namespace":"demo","verb":"delete","group":"kubesnap.io","resource":"snapshots"}},"status":{"allowed":false,"reason":"no rule"}}"#,
    ]

    @Test(arguments: objects)
    func encodedObjectsDecodeToTheSameJSON(_ text: String) throws {
        let object = try JSONValue.parse(text)
        let encoded = try ProtobufTranscoder.encodeBody(object)
        #expect(Array(encoded.prefix(4)) == ProtobufTranscoder.magic)
        let decoded = try ProtobufTranscoder.decodeBody(encoded)
        #expect(Self.difference(object, decoded) == nil, "\(Self.difference(object, decoded) ?? "")")
        // What was decoded (with Go's zero values filled in) goes round once more unchanged.
        #expect(try ProtobufTranscoder.decodeBody(try ProtobufTranscoder.encodeBody(decoded)) == decoded)
    }

    @Test func wrongTypesAreErrorsNotCrashes() throws {
        let cases = [
            #"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":7}}"#,
            #"{"apiVersion":"v1","kind":"ConfigMap","data":["a"]}"#,
            #"{"apiVersion":"v1","kind":"Secret","data":{"a":"not base64!"}}"#,
            #"{"apiVersion":"coordination.k8s.io/v1","kind":"Lease","spec":{"renewTime":"yesterday"}}"#,
            #"{"apiVersion":"kubesnap.io/v1alpha1","kind":"Snapshot","metadata":{"name":"s"}}"#,
        ]
        for text in cases {
            #expect(throws: ProtobufError.self, "\(text)") { try ProtobufTranscoder.encodeBody(try JSONValue.parse(text)) }
        }
    }

    @Test func goDurationsAndFractionsParseExactly() throws {
        #expect(try ProtobufTranscoder.parseGoDuration("1h0m0s", "") == 3_600_000_000_000)
        #expect(try ProtobufTranscoder.parseGoDuration("1.5s", "") == 1_500_000_000)
        #expect(try ProtobufTranscoder.parseGoDuration("-2m3ms", "") == -120_003_000_000)
        #expect(try ProtobufTranscoder.parseGoDuration("0", "") == 0)
        #expect(try ProtobufTranscoder.parseGoDuration("7µs", "") == 7000)
        #expect(throws: ProtobufError.self) { try ProtobufTranscoder.parseGoDuration("10 days", "") }
        for nanos in [1_000_000_000 - 1, 999_999_999, 1_500_000_000, 3_723_004_005_006] as [Int64] {
            #expect(try ProtobufTranscoder.parseGoDuration(ProtobufTranscoder.goDuration(nanos), "") == nanos)
        }
        let (seconds, fraction) = try ProtobufTranscoder.parseTime("2026-12-07T10:00:05.000001Z", "")
        #expect(seconds == 1_796_637_605 && fraction == 1000)
    }

    @Test func acceptNegotiation() {
        #expect(ReplyMedia(accept: nil) == .json)
        #expect(ReplyMedia(accept: "application/vnd.kubernetes.protobuf,application/json") == .protobuf(only: false))
        #expect(ReplyMedia(accept: "application/vnd.kubernetes.protobuf") == .protobuf(only: true))
        #expect(ReplyMedia(accept: "application/json, application/vnd.kubernetes.protobuf") == .json)
        #expect(ReplyMedia(accept: "application/json;as=Table;v=v1;g=meta.k8s.io,application/json") == .json)
        #expect(ReplyMedia(accept: "application/vnd.kubernetes.protobuf;as=Table;v=v1;g=meta.k8s.io,application/json") == .json)
        #expect(ReplyMedia(accept: "*/*") == .json)
    }
}
