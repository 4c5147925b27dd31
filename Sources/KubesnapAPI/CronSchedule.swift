import Foundation

/// A parsed `spec.schedule` of a BackupSchedule: a 5-field cron expression (minute, hour, day of
/// month, month, day of week; ranges, lists, steps, `JAN`-`DEC` and `SUN`-`SAT` names), one of
/// the `@` macros, or `@every <duration>`.
///
/// `next(after:in:)` is pure: the same expression, instant and zone always give the same answer.
///
/// Daylight saving time, in the schedule's zone:
/// - a wall-clock time that does not exist (the hour skipped when clocks go forward) is skipped,
///   as Kubernetes CronJob (robfig/cron v3) does: `30 2 * * *` does not run that day;
/// - a wall-clock time that happens twice (the hour repeated when clocks go back) runs once, at
///   its first occurrence, as cron(8) does for jobs at a fixed hour. robfig/cron v3 runs such a
///   time twice (its own tests expect 01:30 EDT and then 01:30 EST); the contract wants once.
///   A schedule whose hour field is `*` (it runs every hour) is not a fixed-hour job: it keeps
///   running every real hour through the repeated one, as cron(8) schedules such jobs normally.
///
/// `@every d` fires at the instants that are whole multiples of `d` since the Unix epoch
/// (`@every 6h`: 00:00, 06:00, 12:00, 18:00 UTC), so that every operator, restarted or not,
/// computes the same times; the time zone does not change them.
public struct CronSchedule: Sendable, Hashable, CustomStringConvertible {
    /// What the expression fires on.
    public enum Kind: Sendable, Hashable {
        /// Calendar fields, matched in the schedule's time zone.
        case calendar(CalendarFields)
        /// A fixed interval in whole seconds (at least 1).
        case every(seconds: Int64)
    }

    /// The sets of values each cron field allows (day of week 0-6, 0 = Sunday).
    public struct CalendarFields: Sendable, Hashable {
        public var minutes: Set<Int>
        public var hours: Set<Int>
        public var daysOfMonth: Set<Int>
        public var months: Set<Int>
        public var daysOfWeek: Set<Int>
        /// Whether the day-of-month field started with `*` (then both day fields must match,
        /// else either one: cron's rule).
        public var dayOfMonthStar: Bool
        public var dayOfWeekStar: Bool
        /// Whether the hour field allows every hour (then the repeated hour of a DST change runs
        /// at both occurrences).
        public var everyHour: Bool { hours.count == 24 }
    }

    /// The expression as written.
    public let expression: String
    public let kind: Kind

    public var description: String { expression }

    /// Parses `expression`; the error says which field is wrong and why.
    public init(parsing expression: String) throws(CronSyntaxError) {
        self.expression = expression
        let trimmed = expression.trimmingCharacters(in: .whitespaces)
        if trimmed.hasPrefix("@") {
            let parts = trimmed.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
            let macro = parts[0].lowercased()
            if macro == "@every" {
                guard parts.count == 2 else {
                    throw CronSyntaxError(field: nil, message: "@every takes one duration, such as \"@every 6h\" or \"@every 1h30m\"")
                }
                let seconds: Int64
                do { seconds = try GoDuration.seconds(parts[1]) } catch {
                    throw CronSyntaxError(field: nil, message: "@every: \(error.message)")
                }
                guard seconds >= 1 else { throw CronSyntaxError(field: nil, message: "@every: the interval must be at least 1s") }
                kind = .every(seconds: seconds)
                return
            }
            guard parts.count == 1 else {
                throw CronSyntaxError(field: nil, message: "\(parts[0]) takes no arguments")
            }
            let fields: String
            switch macro {
            case "@yearly", "@annually": fields = "0 0 1 1 *"
            case "@monthly": fields = "0 0 1 * *"
            case "@weekly": fields = "0 0 * * 0"
            case "@daily", "@midnight": fields = "0 0 * * *"
            case "@hourly": fields = "0 * * * *"
            default:
                throw CronSyntaxError(
                    field: nil,
                    message: "unknown macro \(parts[0]): use @yearly, @annually, @monthly, @weekly, @daily, @midnight, @hourly or @every <duration>")
            }
            kind = .calendar(try Self.parseFields(fields))
            return
        }
        kind = .calendar(try Self.parseFields(trimmed))
    }

    private static let monthNames = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
    private static let dayNames = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]

    private static func parseFields(_ text: String) throws(CronSyntaxError) -> CalendarFields {
        let parts = text.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
        guard parts.count == 5 else {
            throw CronSyntaxError(
                field: nil,
                message: "expected 5 fields (minute hour day-of-month month day-of-week) or a macro such as @daily, got \(parts.count)")
        }
        let minutes = try CronField.parse(parts[0], name: "minute", range: 0...59, names: [:])
        let hours = try CronField.parse(parts[1], name: "hour", range: 0...23, names: [:])
        let dom = try CronField.parse(parts[2], name: "day-of-month", range: 1...31, names: [:])
        var monthMap: [String: Int] = [:]
        for (index, name) in monthNames.enumerated() { monthMap[name] = index + 1 }
        let months = try CronField.parse(parts[3], name: "month", range: 1...12, names: monthMap)
        var dayMap: [String: Int] = [:]
        for (index, name) in dayNames.enumerated() { dayMap[name] = index }
        // 7 is Sunday too, as in cron(8).
        let dow = try CronField.parse(parts[4], name: "day-of-week", range: 0...7, names: dayMap)
        return CalendarFields(
            minutes: minutes.values, hours: hours.values, daysOfMonth: dom.values, months: months.values,
            daysOfWeek: Set(dow.values.map { $0 % 7 }), dayOfMonthStar: dom.startsWithStar,
            dayOfWeekStar: dow.startsWithStar)
    }

    /// How far `next(after:in:)` looks before it says the schedule never fires (`30 2 31 2 *`).
    static let searchYears = 8

    /// The first scheduled instant strictly after `instant`, in `zone`; nil when the expression
    /// never fires (say, February 30th). Times are whole seconds.
    public func next(after instant: Date, in zone: TimeZone) -> Date? {
        let after = Int64(floor(instant.timeIntervalSince1970))
        switch kind {
        case .every(let seconds):
            // floor division, then the next multiple strictly after.
            let quotient = after >= 0 ? after / seconds : -((-after + seconds - 1) / seconds)
            return Date(timeIntervalSince1970: TimeInterval((quotient + 1) * seconds))
        case .calendar(let fields):
            return Self.nextCalendar(fields, after: after, zone: zone).map { Date(timeIntervalSince1970: TimeInterval($0)) }
        }
    }

    /// All scheduled instants in `(from, through]`, at most `limit` of them (the newest ones are
    /// the ones dropped), for counting missed runs.
    public func times(after from: Date, through: Date, in zone: TimeZone, limit: Int) -> [Date] {
        var result: [Date] = []
        var cursor = from
        while result.count < limit, let next = next(after: cursor, in: zone), next <= through {
            result.append(next)
            cursor = next
        }
        return result
    }

    private static func nextCalendar(_ fields: CalendarFields, after: Int64, zone: TimeZone) -> Int64? {
        let offset = Int64(zone.secondsFromGMT(for: Date(timeIntervalSince1970: TimeInterval(after))))
        // Start a day early: after a DST fall-back the wall clock of `after` may be ahead of
        // wall-clock times still to come.
        let firstDay = floorDiv(after + offset, 86_400) - 1
        let sortedHours = fields.hours.sorted()
        let sortedMinutes = fields.minutes.sorted()
        var best: Int64?
        var day = firstDay
        let lastDay = firstDay + Int64(searchYears) * 366
        while day <= lastDay {
            if let found = best, day * 86_400 - 2 * 86_400 > found { break }
            let civil = CivilDate(daysSinceEpoch: day)
            if fields.months.contains(civil.month), dayMatches(fields, civil: civil, weekday: weekday(day)) {
                // No offset change from the day before to the day after: wall time maps to one
                // instant, in order, so the day's first candidate past `after` is its earliest.
                let before = offsetAt(day * 86_400 - 86_400, zone)
                let steady = before == offsetAt(day * 86_400 + 2 * 86_400, zone)
                scan: for hour in sortedHours {
                    for minute in sortedMinutes {
                        let wall = day * 86_400 + Int64(hour * 3600 + minute * 60)
                        if steady {
                            let candidate = wall - before
                            if candidate > after {
                                if best == nil || candidate < best! { best = candidate }
                                break scan
                            }
                            continue
                        }
                        let instants = Self.instants(forWall: wall, zone: zone)
                        let chosen = fields.everyHour ? instants : Array(instants.prefix(1))
                        for candidate in chosen where candidate > after {
                            if best == nil || candidate < best! { best = candidate }
                        }
                    }
                }
            }
            day += 1
        }
        return best
    }

    private static func dayMatches(_ fields: CalendarFields, civil: CivilDate, weekday: Int) -> Bool {
        let domMatch = fields.daysOfMonth.contains(civil.day)
        let dowMatch = fields.daysOfWeek.contains(weekday)
        if fields.dayOfMonthStar || fields.dayOfWeekStar { return domMatch && dowMatch }
        return domMatch || dowMatch
    }

    /// The instants whose wall-clock time in `zone` is `wall` (seconds since the epoch as if
    /// the zone were UTC): none in a skipped hour, two in a repeated one, earliest first.
    static func instants(forWall wall: Int64, zone: TimeZone) -> [Int64] {
        var offsets: Set<Int64> = []
        for probe in [wall - 86_400, wall, wall + 86_400] {
            offsets.insert(Int64(zone.secondsFromGMT(for: Date(timeIntervalSince1970: TimeInterval(probe)))))
        }
        var result: [Int64] = []
        for offset in offsets {
            let candidate = wall - offset
            let actual = Int64(zone.secondsFromGMT(for: Date(timeIntervalSince1970: TimeInterval(candidate))))
            if candidate + actual == wall, !result.contains(candidate) { result.append(candidate) }
        }
        return result.sorted()
    }

    private static func offsetAt(_ instant: Int64, _ zone: TimeZone) -> Int64 {
        Int64(zone.secondsFromGMT(for: Date(timeIntervalSince1970: TimeInterval(instant))))
    }

    private static func weekday(_ daysSinceEpoch: Int64) -> Int {
        // 1970-01-01 was a Thursday (4).
        Int(((daysSinceEpoch % 7) + 7 + 4) % 7)
    }
}

func floorDiv(_ a: Int64, _ b: Int64) -> Int64 {
    a >= 0 ? a / b : -((-a + b - 1) / b)
}

/// A proleptic Gregorian date from a day count (Howard Hinnant's `civil_from_days`).
struct CivilDate: Hashable {
    var year: Int
    var month: Int
    var day: Int

    init(daysSinceEpoch: Int64) {
        let z = daysSinceEpoch + 719_468
        let era = floorDiv(z, 146_097)
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        year = Int(yoe + era * 400 + (m <= 2 ? 1 : 0))
        month = Int(m)
        day = Int(d)
    }
}

/// A cron expression that cannot be parsed; `field` names the cron field when one is at fault.
public struct CronSyntaxError: Error, Sendable, Hashable, CustomStringConvertible {
    public var field: String?
    public var message: String
    public var description: String { field.map { "\($0) field: \(message)" } ?? message }
}

/// One of the five fields: a comma list of `*`, `N`, `A-B`, each with an optional `/step`.
struct CronField {
    var values: Set<Int>
    var startsWithStar: Bool

    static func parse(_ text: String, name: String, range: ClosedRange<Int>, names: [String: Int]) throws(CronSyntaxError)
        -> CronField
    {
        func fail(_ message: String) -> CronSyntaxError { CronSyntaxError(field: name, message: message) }
        func value(_ token: String) throws(CronSyntaxError) -> Int {
            if let number = Int(token), token.allSatisfy(\.isASCII) {
                guard range.contains(number) else {
                    throw fail("\(number) is out of range \(range.lowerBound)-\(range.upperBound)")
                }
                return number
            }
            if let named = names[token.lowercased()] { return named }
            if names.isEmpty { throw fail("\"\(token)\" is not a number") }
            throw fail("\"\(token)\" is not a number or a name (\(names.sorted { $0.value < $1.value }.map { $0.key.uppercased() }.joined(separator: ", ")))")
        }
        var values: Set<Int> = []
        for item in text.split(separator: ",", omittingEmptySubsequences: false).map(String.init) {
            guard !item.isEmpty else { throw fail("empty list item in \"\(text)\"") }
            let stepParts = item.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
            guard stepParts.count <= 2 else { throw fail("\"\(item)\" has more than one /") }
            var step = 1
            if stepParts.count == 2 {
                guard let parsed = Int(stepParts[1]), parsed > 0 else {
                    throw fail("step \"\(stepParts[1])\" in \"\(item)\" must be a positive number")
                }
                step = parsed
            }
            let base = stepParts[0]
            let low: Int
            let high: Int
            if base == "*" {
                (low, high) = (range.lowerBound, range.upperBound)
            } else if let dash = base.firstIndex(of: "-") {
                let first = String(base[..<dash])
                let last = String(base[base.index(after: dash)...])
                guard !first.isEmpty, !last.isEmpty else { throw fail("\"\(item)\" is not a range A-B") }
                low = try value(first)
                high = try value(last)
                guard low <= high else { throw fail("range \"\(base)\" goes backwards (\(low) > \(high))") }
            } else {
                low = try value(base)
                // "N/step" means N to the end of the field, as in cron(8) extensions and robfig.
                high = stepParts.count == 2 ? range.upperBound : low
            }
            values.formUnion(stride(from: low, through: high, by: step))
        }
        return CronField(values: values, startsWithStar: text.hasPrefix("*"))
    }
}

/// Go's `time.ParseDuration` restricted to what the contract names: a sequence of numbers (with
/// an optional fraction) each followed by `h`, `m` or `s`, plus `d` and `w` where a caller
/// allows them (`maxAge`). The total must be whole seconds.
public enum GoDuration {
    public struct ParseError: Error, Sendable, Hashable, CustomStringConvertible {
        public var message: String
        public var description: String { message }
    }

    /// The duration in whole seconds. `units` are the allowed unit letters.
    public static func seconds(_ text: String, units: String = "hms") throws(ParseError) -> Int64 {
        let unitSeconds: [Character: Double] = ["s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800]
        let allowed = units.map { String($0) }.joined(separator: ", ")
        guard !text.isEmpty else { throw ParseError(message: "empty duration") }
        var total = 0.0
        var number = ""
        var sawUnit = false
        for character in text {
            if character.isASCII, character.isNumber || character == "." {
                number.append(character)
                continue
            }
            guard units.contains(character), let scale = unitSeconds[character] else {
                throw ParseError(message: "\"\(text)\" is not a duration: unknown unit \"\(character)\" (use \(allowed))")
            }
            guard let value = Double(number), !number.hasPrefix("."), !number.hasSuffix(".") else {
                throw ParseError(message: "\"\(text)\" is not a duration: a number must come before \"\(character)\"")
            }
            total += value * scale
            number = ""
            sawUnit = true
        }
        guard number.isEmpty, sawUnit else {
            throw ParseError(message: "\"\(text)\" is not a duration: every number needs a unit (\(allowed)), as in 90s or 1h30m")
        }
        guard total < 1e12 else { throw ParseError(message: "\"\(text)\" is too long a duration") }
        guard total == total.rounded() else { throw ParseError(message: "\"\(text)\" is not a whole number of seconds") }
        return Int64(total)
    }
}

extension CronSchedule {
    /// The zone named `identifier` from tzdata (UTC when nil or empty); nil when unknown.
    public static func timeZone(named identifier: String?) -> TimeZone? {
        guard let identifier, !identifier.isEmpty else { return TimeZone(identifier: "UTC") }
        return TimeZone(identifier: identifier)
    }

    /// The errors of `spec.schedule` and `spec.timeZone`, each naming its field, as the
    /// BackupSchedule's validation reports them.
    public static func specErrors(schedule: String, timeZone: String?) -> [String] {
        var errors: [String] = []
        let zone = Self.timeZone(named: timeZone)
        if zone == nil {
            errors.append(
                "spec.timeZone: Invalid value: \"\(timeZone ?? "")\": unknown time zone: use an IANA name such as Europe/Berlin or America/New_York")
        }
        if schedule.isEmpty {
            errors.append("spec.schedule: Required value")
            return errors
        }
        do {
            let parsed = try CronSchedule(parsing: schedule)
            // A fixed reference keeps validation pure; eight years cover every leap day.
            if parsed.next(after: Date(timeIntervalSince1970: 946_684_800), in: zone ?? TimeZone(identifier: "UTC")!) == nil {
                errors.append("spec.schedule: Invalid value: \"\(schedule)\": the schedule never fires (no such date)")
            }
        } catch {
            errors.append("spec.schedule: Invalid value: \"\(schedule)\": \(error.description)")
        }
        return errors
    }
}
