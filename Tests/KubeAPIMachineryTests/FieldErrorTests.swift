import KubeAPIMachinery
import KubeJSON
import Testing

@Suite struct FieldErrorTests {
    // Formats from k8s.io/apimachinery/pkg/util/validation/field/errors.go.
    @Test func messagesAsKube() {
        #expect(FieldError.required("spec.repository").message == "spec.repository: Required value")
        #expect(
            FieldError.notSupported("spec.deletionPolicy", "Foo", supported: ["Delete", "Retain"]).message
                == #"spec.deletionPolicy: Unsupported value: "Foo": supported values: "Delete", "Retain""#)
        #expect(
            FieldError.invalid("spec.source", "object", "exactly one of source and snapshotID must be set")
                .message
                == #"spec.source: Invalid value: "object": exactly one of source and snapshotID must be set"#)
        #expect(
            FieldError.invalid("spec.keep", 5, "too big").message == "spec.keep: Invalid value: 5: too big")
        #expect(FieldError.invalid("spec.on", true, "no").message == "spec.on: Invalid value: true: no")
        #expect(
            FieldError.forbidden("spec.x", "may not be set").message == "spec.x: Forbidden: may not be set")
        #expect(FieldError.duplicate("spec.tags[1]", "a").message == #"spec.tags[1]: Duplicate value: "a""#)
        #expect(
            FieldError.tooMany("spec.l", actual: 4, max: 3).message
                == "spec.l: Too many: 4: must have at most 3 items")
        #expect(FieldError.invalid("f", "a\"b\n", "x").message == #"f: Invalid value: "a\"b\n": x"#)
    }

    @Test func invalidStatusAsKube() {
        let errors = [
            FieldError.required("spec.repository"),
            FieldError.notSupported("spec.deletionPolicy", "Foo", supported: ["Delete", "Retain"]),
        ]
        let status = FieldError.invalidStatus(
            kind: "Snapshot", group: "kubesnap.io", name: "s1", errors: errors)
        #expect(status["code"] == 422)
        #expect(status["reason"] == "Invalid")
        #expect(
            status["message"]
                == #"Snapshot.kubesnap.io "s1" is invalid: [spec.repository: Required value, spec.deletionPolicy: Unsupported value: "Foo": supported values: "Delete", "Retain"]"#
        )
        #expect(
            status["details"]["causes"][0]
                == json(
                    #"{"reason":"FieldValueRequired","message":"Required value","field":"spec.repository"}"#))
        #expect(status["details"]["group"] == "kubesnap.io")
        #expect(
            FieldError.invalidMessage(
                kind: "Secret", group: "", name: "x", errors: [FieldError.required("data")])
                == #"Secret "x" is invalid: data: Required value"#)
    }
}
