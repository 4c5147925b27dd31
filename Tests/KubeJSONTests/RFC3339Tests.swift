import Foundation
import KubeJSON
import Testing

@Suite struct RFC3339Tests {
    @Test func parsesTheFormsKubernetesAndResticWrite() {
        #expect(RFC3339.parse("2024-05-01T12:00:00Z")?.timeIntervalSince1970 == 1_714_564_800)
        #expect(RFC3339.parse("2024-05-01T14:00:00+02:00")?.timeIntervalSince1970 == 1_714_564_800)
        #expect(RFC3339.parse("2024-05-01T12:00:00.5Z")?.timeIntervalSince1970 == 1_714_564_800.5)
        // restic: nine fractional digits and an offset.
        let restic = RFC3339.parse("2024-05-01T09:30:00.123456789-02:30")?.timeIntervalSince1970
        #expect(restic.map { abs($0 - 1_714_564_800.123456789) < 1e-6 } == true)
        #expect(RFC3339.parse("2024-05-01t12:00:00z")?.timeIntervalSince1970 == 1_714_564_800)
        #expect(RFC3339.parse("1969-12-31T23:59:59Z")?.timeIntervalSince1970 == -1)
    }

    @Test(arguments: [
        "nope", "", "2024-13-01T12:00:00Z", "2024-05-00T12:00:00Z", "2024-05-01T24:00:00Z",
        "2024-05-01T12:60:00Z", "2024-05-01T12:00:00", "2024-05-01T12:00:00.Z", "2024-05-01T12:00:00+0200",
        "2024-05-01T12:00:00Zjunk", "2024-05-01", "２０24-05-01T12:00:00Z",
    ])
    func rejectsMalformedTimes(text: String) {
        #expect(RFC3339.parse(text) == nil)
        #expect(!RFC3339.isDateTime(text))
    }

    @Test func formatsSecondsAndMicroseconds() {
        #expect(RFC3339.format(Date(timeIntervalSince1970: 1_714_564_800)) == "2024-05-01T12:00:00Z")
        #expect(RFC3339.format(Date(timeIntervalSince1970: 0)) == "1970-01-01T00:00:00Z")
        #expect(RFC3339.format(Date(timeIntervalSince1970: -1)) == "1969-12-31T23:59:59Z")
        let micro = RFC3339.format(Date(timeIntervalSince1970: 1_700_000_000.25), fractionalSeconds: true)
        #expect(micro == "2023-11-14T22:13:20.250000Z")
        for seconds in stride(from: -86_400.0 * 800, through: 86_400.0 * 30_000, by: 86_400.0 * 37 + 4_321) {
            let date = Date(timeIntervalSince1970: seconds)
            #expect(RFC3339.parse(RFC3339.format(date)) == date, "round trip of \(seconds)")
        }
    }

    @Test func fullDates() {
        #expect(RFC3339.isDate("2024-05-01"))
        #expect(!RFC3339.isDate("2024-5-01"))
        #expect(!RFC3339.isDate("2024-05-32"))
        #expect(!RFC3339.isDate("2024-05-01T00:00:00Z"))
    }
}
