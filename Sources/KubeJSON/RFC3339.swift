import Foundation

/// RFC 3339 timestamps (`metav1.Time`, `metav1.MicroTime`, restic's times), parsed and written
/// by hand: Foundation's ISO8601DateFormatter builds an ICU formatter per instance (an API
/// server spent a tenth of its CPU there) and takes at most milliseconds.
public enum RFC3339 {
    /// Parses `2024-05-01T10:00:00Z`, with any number of fractional digits, `Z` or a `±hh:mm`
    /// offset (`t` and a space are taken for `T`); nil when malformed or out of range.
    public static func parse(_ text: String) -> Date? {
        var text = text
        return text.withUTF8 { parse(utf8: $0) }
    }

    /// Whether `text` is an RFC 3339 date-time (the OpenAPI `date-time` format).
    public static func isDateTime(_ text: String) -> Bool { parse(text) != nil }

    /// Whether `text` is a full-date, `2024-05-01` (the OpenAPI `date` format).
    public static func isDate(_ text: String) -> Bool {
        var text = text
        return text.withUTF8 { u in
            guard u.count == 10, u[4] == 0x2D, u[7] == 0x2D, let month = digits(u, 5, 2), let day = digits(u, 8, 2),
                digits(u, 0, 4) != nil
            else { return false }
            return (1...12).contains(month) && (1...31).contains(day)
        }
    }

    /// `2024-05-01T10:00:00Z` (metav1.Time), or with `fractionalSeconds`
    /// `2024-05-01T10:00:00.000000Z` (metav1.MicroTime); always UTC.
    public static func format(_ date: Date, fractionalSeconds: Bool = false) -> String {
        let seconds = date.timeIntervalSince1970
        let micros = Int(((seconds - seconds.rounded(.down)) * 1_000_000).rounded(.down))
        return format(seconds: Int(seconds.rounded(.down)), microseconds: fractionalSeconds ? min(micros, 999_999) : nil)
    }

    /// The same from whole seconds since 1970 (UTC) and, for a MicroTime, the microseconds.
    public static func format(seconds total: Int, microseconds: Int?) -> String {
        var days = total / 86400
        var rem = total % 86400
        if rem < 0 {
            rem += 86400
            days -= 1
        }
        // Civil from days (Howard Hinnant's algorithm).
        let z = days + 719468
        let era = (z >= 0 ? z : z - 146096) / 146097
        let doe = z - era * 146097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        let y = yoe + era * 400 + (m <= 2 ? 1 : 0)
        var text = padded(y, 4) + "-" + padded(m, 2) + "-" + padded(d, 2)
        text += "T" + padded(rem / 3600, 2) + ":" + padded(rem % 3600 / 60, 2) + ":" + padded(rem % 60, 2)
        if let microseconds { text += "." + padded(microseconds, 6) }
        return text + "Z"
    }

    private static func padded(_ value: Int, _ width: Int) -> String {
        let digits = String(value)
        return digits.count >= width ? digits : String(repeating: "0", count: width - digits.count) + digits
    }

    private static func digits(_ u: UnsafeBufferPointer<UInt8>, _ from: Int, _ count: Int) -> Int? {
        guard from + count <= u.count else { return nil }
        var n = 0
        for i in from..<(from + count) {
            guard u[i] >= 0x30, u[i] <= 0x39 else { return nil }
            n = n * 10 + Int(u[i] - 0x30)
        }
        return n
    }

    private static func parse(utf8 u: UnsafeBufferPointer<UInt8>) -> Date? {
        guard u.count >= 20, let year = digits(u, 0, 4), u[4] == 0x2D, let month = digits(u, 5, 2), u[7] == 0x2D,
            let day = digits(u, 8, 2), u[10] == 0x54 || u[10] == 0x74 || u[10] == 0x20,
            let hour = digits(u, 11, 2), u[13] == 0x3A, let minute = digits(u, 14, 2), u[16] == 0x3A,
            let second = digits(u, 17, 2),
            (1...12).contains(month), (1...31).contains(day), hour < 24, minute < 60, second < 61
        else { return nil }
        var i = 19
        var fraction = 0.0
        if i < u.count, u[i] == 0x2E {
            i += 1
            var scale = 0.1
            let start = i
            while i < u.count, u[i] >= 0x30, u[i] <= 0x39 {
                fraction += Double(u[i] - 0x30) * scale
                scale /= 10
                i += 1
            }
            if i == start { return nil }
        }
        guard i < u.count else { return nil }
        var offset = 0
        if u[i] == 0x5A || u[i] == 0x7A {
            i += 1
        } else if u[i] == 0x2B || u[i] == 0x2D, let oh = digits(u, i + 1, 2), i + 3 < u.count, u[i + 3] == 0x3A,
            let om = digits(u, i + 4, 2), oh < 24, om < 60
        {
            offset = (oh * 3600 + om * 60) * (u[i] == 0x2D ? -1 : 1)
            i += 6
        } else {
            return nil
        }
        guard i == u.count else { return nil }
        // Days from civil (Howard Hinnant's algorithm).
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let mp = (month + 9) % 12
        let doy = (153 * mp + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        let days = era * 146097 + doe - 719468
        return Date(timeIntervalSince1970: Double(days * 86400 + hour * 3600 + minute * 60 + second - offset) + fraction)
    }
}
